// SPDX-License-Identifier: BSL-1.0
// Parsing and formatting policy strings. Done once per call site (at start-up or when the
// config changes), so these figures matter for config reloads, not for the retry loop.
//
//   BM_policy_parse/typical    "timeout=5s, initial=10ms, multiplier=2, max_delay=1s, jitter=none"
//   BM_policy_parse/empty      "" (the defaults)
//   BM_policy_parse/full       every key, codes by name and number
//   BM_policy_format/...       format() of the parsed policy (builds a std::string)
#include <ipsec_retry/retry_policy.hpp>

#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

namespace {

namespace ir = ipsec_retry;

constexpr std::string_view typical_policy =
    "timeout=5s, initial=10ms, multiplier=2, max_delay=1s, jitter=none";
constexpr std::string_view full_policy =
    "attempts=8; timeout=2.5s; backoff=exponential; initial=10ms; multiplier=1.5; step=5ms; "
    "max_delay=1s; jitter=25%; retry_on=ERROR_ACCESS_DENIED|0x800706BE; "
    "never_retry=RPC_S_SERVER_UNAVAILABLE; at_deadline=give_up; seed=42";

void BM_policy_parse(benchmark::State& state, std::string_view text) {
  if (!ir::retry_policy::parse(text)) {
    state.SkipWithError("the policy string does not parse");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(text);
    auto policy = ir::retry_policy::parse(text);
    benchmark::DoNotOptimize(policy);
  }
}
BENCHMARK_CAPTURE(BM_policy_parse, typical, typical_policy);
BENCHMARK_CAPTURE(BM_policy_parse, empty, std::string_view{});
BENCHMARK_CAPTURE(BM_policy_parse, full, full_policy);

void BM_policy_format(benchmark::State& state, std::string_view text) {
  const auto parsed = ir::retry_policy::parse(text);
  if (!parsed) {
    state.SkipWithError("the policy string does not parse");
    return;
  }
  const ir::retry_policy& policy = parsed.value();
  for (auto _ : state) {
    std::string formatted = policy.format();
    benchmark::DoNotOptimize(formatted);
  }
}
BENCHMARK_CAPTURE(BM_policy_format, typical, typical_policy);
BENCHMARK_CAPTURE(BM_policy_format, full, full_policy);

}  // namespace
