// SPDX-License-Identifier: BSL-1.0
// What deciding about a code costs, and looking codes up by name.
//
//   BM_default_verdict/...     the free function default_verdict(code): the switch alone
//   BM_classify_default/...    classifier{}(code): one branch on "adjusted", then the switch
//   BM_classify_adjusted/...   a classifier with retry_on / never_retry / map_to_success codes:
//                              linear scans of three small fixed-capacity sets first
//   BM_classify_full_sets      the worst case: all three sets full (16 codes each), unknown code
//   BM_classify_error_code     classifier{}(std::error_code): adds the category check
//   BM_find_code_by_value      find_code(13023): binary search of the code table
//   BM_find_code_by_name       find_code("ERROR_IPSEC_QM_POLICY_PENDING_DELETION")
//   BM_parse_code/...          parse_code() of a name, a hex HRESULT and a decimal
//
// The .../mix variants cycle through a 16-entry array of codes: 13023 (transient), 0 (success),
// 13025 (warning = success), RPC codes, FWP_E_TIMEOUT, ERROR_ACCESS_DENIED, NOT_FOUND and codes
// the library does not know. The array is hidden from the optimizer, so nothing is folded.
#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace {

namespace ir = ipsec_retry;

constexpr std::array<std::uint32_t, 16> code_mix = {
    13023,        // ERROR_IPSEC_QM_POLICY_PENDING_DELETION: transient
    0,            // ERROR_SUCCESS
    13025,        // WARNING_IPSEC_QM_POLICY_PRUNED: success
    424242,       // unknown: permanent
    1722,         // RPC_S_SERVER_UNAVAILABLE: transient
    13001,        // ERROR_IPSEC_QM_POLICY_NOT_FOUND: permanent
    0x80320012u,  // FWP_E_TIMEOUT: transient
    5,            // ERROR_ACCESS_DENIED: permanent
    13021,        // ERROR_IPSEC_MM_POLICY_PENDING_DELETION: transient
    1726,         // RPC_S_CALL_FAILED: permanent unless idempotent
    0xDEADBEEFu,  // unknown
    0,            // ERROR_SUCCESS
    170,          // ERROR_BUSY: transient
    13000,        // ERROR_IPSEC_QM_POLICY_EXISTS: permanent
    99999,        // unknown
    13023,        // transient
};

// Runs `classify(code)` over the mix, one code per iteration.
template <class Classify>
void run_mix(benchmark::State& state, Classify classify) {
  std::array<std::uint32_t, 16> codes = code_mix;
  benchmark::DoNotOptimize(codes);  // contents unknown to the optimizer from here on
  std::size_t i = 0;
  for (auto _ : state) {
    auto v = classify(codes[i++ & (codes.size() - 1)]);
    benchmark::DoNotOptimize(v);
  }
}

// Runs `classify(code)` on one code, re-hidden from the optimizer every iteration.
template <class Classify>
void run_one(benchmark::State& state, Classify classify, std::uint32_t code) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(code);
    auto v = classify(code);
    benchmark::DoNotOptimize(v);
  }
}

// retry_on 5 and 1726, never_retry 1722, map_to_success 13001 (a delete site).
ir::classifier adjusted_classifier() {
  ir::classifier c;
  c.retry_on(5);
  c.retry_on(1726);
  c.never_retry(1722);
  c.map_to_success(13001);
  return c;
}

void BM_default_verdict(benchmark::State& state, std::uint32_t code) {
  run_one(
      state, [](std::uint32_t c) { return ir::default_verdict(c); }, code);
}
BENCHMARK_CAPTURE(BM_default_verdict, pending_deletion_13023, 13023u);
BENCHMARK_CAPTURE(BM_default_verdict, success_0, 0u);
BENCHMARK_CAPTURE(BM_default_verdict, unknown_424242, 424242u);

void BM_default_verdict_mix(benchmark::State& state) {
  run_mix(state, [](std::uint32_t c) { return ir::default_verdict(c); });
}
BENCHMARK(BM_default_verdict_mix);

void BM_classify_default(benchmark::State& state, std::uint32_t code) {
  const ir::classifier c{};
  run_one(
      state, [&c](std::uint32_t x) { return c(x); }, code);
}
BENCHMARK_CAPTURE(BM_classify_default, pending_deletion_13023, 13023u);
BENCHMARK_CAPTURE(BM_classify_default, success_0, 0u);
BENCHMARK_CAPTURE(BM_classify_default, unknown_424242, 424242u);

void BM_classify_default_mix(benchmark::State& state) {
  ir::classifier c{};
  benchmark::DoNotOptimize(c);
  run_mix(state, [&c](std::uint32_t x) { return c(x); });
}
BENCHMARK(BM_classify_default_mix);

void BM_classify_adjusted(benchmark::State& state, std::uint32_t code) {
  ir::classifier c = adjusted_classifier();
  benchmark::DoNotOptimize(c);
  run_one(
      state, [&c](std::uint32_t x) { return c(x); }, code);
}
BENCHMARK_CAPTURE(BM_classify_adjusted, pending_deletion_13023, 13023u);
BENCHMARK_CAPTURE(BM_classify_adjusted, retry_on_5, 5u);
BENCHMARK_CAPTURE(BM_classify_adjusted, unknown_424242, 424242u);

void BM_classify_adjusted_mix(benchmark::State& state) {
  ir::classifier c = adjusted_classifier();
  benchmark::DoNotOptimize(c);
  run_mix(state, [&c](std::uint32_t x) { return c(x); });
}
BENCHMARK(BM_classify_adjusted_mix);

void BM_classify_full_sets(benchmark::State& state) {
  ir::classifier c;
  for (std::uint32_t k = 0; k < ir::code_set::capacity; ++k) {
    c.map_to_success(20000 + k);
    c.never_retry(30000 + k);
    c.retry_on(40000 + k);
  }
  benchmark::DoNotOptimize(c);
  run_one(
      state, [&c](std::uint32_t x) { return c(x); }, 424242u);
}
BENCHMARK(BM_classify_full_sets);

void BM_classify_error_code(benchmark::State& state) {
  const ir::classifier c{};
  std::error_code ec = ir::win32_error::ipsec_qm_policy_pending_deletion;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ec);
    auto v = c(ec);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_classify_error_code);

void BM_find_code_by_value(benchmark::State& state) {
  std::uint32_t code = 13023;
  for (auto _ : state) {
    benchmark::DoNotOptimize(code);
    auto info = ir::find_code(code);
    benchmark::DoNotOptimize(info);
  }
}
BENCHMARK(BM_find_code_by_value);

void BM_find_code_by_name(benchmark::State& state) {
  std::string_view name = "ERROR_IPSEC_QM_POLICY_PENDING_DELETION";
  for (auto _ : state) {
    benchmark::DoNotOptimize(name);
    auto info = ir::find_code(name);
    benchmark::DoNotOptimize(info);
  }
}
BENCHMARK(BM_find_code_by_name);

void BM_parse_code(benchmark::State& state, std::string_view text) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(text);
    auto code = ir::parse_code(text);
    benchmark::DoNotOptimize(code);
  }
}
BENCHMARK_CAPTURE(BM_parse_code, name, std::string_view{"ERROR_IPSEC_QM_POLICY_PENDING_DELETION"});
BENCHMARK_CAPTURE(BM_parse_code, hresult_hex, std::string_view{"0x800732DF"});
BENCHMARK_CAPTURE(BM_parse_code, decimal, std::string_view{"13023"});

}  // namespace
