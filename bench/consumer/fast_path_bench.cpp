// SPDX-License-Identifier: BSL-1.0
// The fast path as a user measures it: this program is built against an installed ipsec_retry
// (find_package), in Release, by bench/consumer/run.sh. bench/README.md records the figures.
//
//   BM_steady_clock_now        the clock read alone
//   BM_hand_loop               what a user writes without the library: one steady_clock::now(),
//                              the call, a branch (the retry loop out of line, never taken)
//   BM_retry_fast_path         auto r = ipsec_retry::retry(policy, op); DoNotOptimize(r) — the
//                              whole retry_result (56 bytes) forced to memory every iteration
//   BM_retry_fast_path_checked auto r = retry(policy, op); then what a caller reads: has_value()
//                              and the code, as `if (!r) ...` code does
//   BM_hand_loop_result        the hand loop, then its code put in a retry_result<win32_error>
//                              and DoNotOptimize'd like BM_retry_fast_path's: what building and
//                              storing the result costs, apart from retry()'s own logic
//   BM_fast_path_compare       hand / retry / retry_checked / hand_result in interleaved
//                              batches; per-call medians over the batches as counters, and the
//                              ratios
//
// The op returns a Win32 code (std::uint32_t) read from a volatile: it cannot be folded away and
// the compiler cannot know it succeeds. Global operator new is replaced by a counting one; any
// allocation on the fast path is a benchmark error.
#include <ipsec_retry/retry.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "batch_timing.hpp"
#include "counting_new.hpp"

namespace {

namespace ir = ipsec_retry;
using namespace std::chrono_literals;

constexpr std::uint32_t error_success = 0;
constexpr std::uint32_t qm_policy_pending_deletion = 13023;

struct code_source {
  volatile std::uint32_t code = error_success;
  auto op() {
    return [this]() -> std::uint32_t { return code; };
  }
};

// The hand loop's retries, out of line as a careful user would keep them (never reached here).
template <class Op>
[[gnu::noinline]] std::uint32_t hand_retry_slow(Op& op, std::chrono::steady_clock::time_point start,
                                                std::uint32_t code) {
  const auto deadline = start + 5s;
  auto delay = std::chrono::nanoseconds{10ms};
  while (code == qm_policy_pending_deletion) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(delay, deadline - now));
    delay *= 2;
    code = op();
  }
  return code;
}

template <class Op>
inline std::uint32_t hand_loop(Op& op) {
  const auto start = std::chrono::steady_clock::now();
  const std::uint32_t code = op();
  if (code == error_success) [[likely]]
    return code;
  return hand_retry_slow(op, start, code);
}

ir::retry_policy fast_path_policy() {
  return ir::retry_policy::parse("timeout=5s, initial=10ms").value();
}

void report_allocations(benchmark::State& state, std::uint64_t allocated) {
  state.counters["allocs/iter"] =
      benchmark::Counter(static_cast<double>(allocated), benchmark::Counter::kAvgIterations);
  if (allocated != 0) state.SkipWithError("the fast path allocated");
}

void BM_steady_clock_now(benchmark::State& state) {
  for (auto _ : state) {
    auto t = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_steady_clock_now);

void BM_hand_loop(benchmark::State& state) {
  code_source source;
  auto op = source.op();
  for (auto _ : state) {
    std::uint32_t code = hand_loop(op);
    benchmark::DoNotOptimize(code);
  }
}
BENCHMARK(BM_hand_loop);

void BM_hand_loop_result(benchmark::State& state) {
  code_source source;
  auto op = source.op();
  for (auto _ : state) {
    ir::retry_result<ir::win32_error> r = ir::win32_error{hand_loop(op)};
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_hand_loop_result);

void BM_retry_fast_path(benchmark::State& state) {
  const ir::retry_policy policy = fast_path_policy();
  code_source source;
  auto op = source.op();
  const std::uint64_t before = allocation_count.load();
  for (auto _ : state) {
    auto r = ir::retry(policy, op);
    benchmark::DoNotOptimize(r);
  }
  report_allocations(state, allocation_count.load() - before);
}
BENCHMARK(BM_retry_fast_path);

// What a caller keeps of the result: whether it succeeded and the code.
template <class R>
std::uint32_t code_of(const R& r) {
  return r ? to_underlying(r.value()) : static_cast<std::uint32_t>(r.error().code.value());
}

void BM_retry_fast_path_checked(benchmark::State& state) {
  const ir::retry_policy policy = fast_path_policy();
  code_source source;
  auto op = source.op();
  const std::uint64_t before = allocation_count.load();
  for (auto _ : state) {
    const auto r = ir::retry(policy, op);
    std::uint32_t code = code_of(r);
    benchmark::DoNotOptimize(code);
  }
  report_allocations(state, allocation_count.load() - before);
}
BENCHMARK(BM_retry_fast_path_checked);

void BM_fast_path_compare(benchmark::State& state) {
  constexpr int batch = 1000;
  const ir::retry_policy policy = fast_path_policy();
  code_source source;
  auto op = source.op();
  auto hand = [&op] {
    std::uint32_t code = hand_loop(op);
    benchmark::DoNotOptimize(code);
  };
  auto library = [&op, &policy] {
    auto r = ir::retry(policy, op);
    benchmark::DoNotOptimize(r);
  };
  auto checked = [&op, &policy] {
    const auto r = ir::retry(policy, op);
    std::uint32_t code = code_of(r);
    benchmark::DoNotOptimize(code);
  };
  auto hand_result = [&op] {
    ir::retry_result<ir::win32_error> r = ir::win32_error{hand_loop(op)};
    benchmark::DoNotOptimize(r);
  };
  std::uint64_t allocated = 0;
  const auto [h, r, c, hr] = ipsec_retry_bench::interleaved_medians(
      state, batch, [] { return allocation_count.load(); }, allocated, hand, library, checked,
      hand_result);
  state.counters["hand_ns"] = h;
  state.counters["retry_ns"] = r;
  state.counters["checked_ns"] = c;
  state.counters["retry/hand"] = r / h;
  state.counters["checked/hand"] = c / h;
  state.counters["hand_result_ns"] = hr;
  state.counters["retry/hand_result"] = r / hr;
  if (allocated != 0) state.SkipWithError("the fast path allocated");
}
BENCHMARK(BM_fast_path_compare);

}  // namespace

BENCHMARK_MAIN();
