// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::asio at scale: N concurrent retry sequences on one io_context thread, against
// the blocking retry() on 100 threads doing the same work. Every sequence fails transiently
// (ERROR_BUSY) three times, then succeeds: 4 calls, 3 waits of 1 us (real steady timers).
//
// Counters (per iteration of N sequences):
//   ns/step         wall time / (N * 4 calls): what one call plus its share of a wait costs
//   bytes/pending   the operation's own memory while it waits (the driver, its timer and the
//                   pending wait), from the handler's associated allocator, at the peak / N
//   allocs/seq      global operator new calls / N, from the first initiation to the last
//                   completion: the operation itself and each of its 3 waits, each through
//                   the handler's allocator (here a counting one over std::allocator)
#include <ipsec_retry/asio.hpp>
#include <ipsec_retry/retry.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>

#include "allocation_report.hpp"
#include "counting_allocator.hpp"  // and counting_new.hpp: this binary counts every new

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace ir = ipsec_retry;
namespace net = boost::asio;

namespace {

const ir::retry_policy& policy() {
  static const ir::retry_policy p =
      ir::retry_policy::parse("timeout=none, attempts=10, initial=1us, max_delay=1us, jitter=none")
          .value();
  return p;
}

constexpr std::uint32_t busy = 170;  // ERROR_BUSY: transient
constexpr int calls_per_sequence = 4;

struct done_handler {
  ipsec_retry::test::allocation_tally* count;
  int* succeeded;
  using allocator_type = ipsec_retry::test::counting_allocator<char>;
  allocator_type get_allocator() const noexcept { return allocator_type(count); }
  void operator()(const ir::retry_result<ir::win32_error>& r) const {
    if (r) ++*succeeded;
  }
};

void BM_AsyncRetry_ConcurrentOnOneThread(benchmark::State& state) {
  const auto sequences = static_cast<std::size_t>(state.range(0));
  std::uint64_t allocations_in_runs = 0;
  std::size_t peak_bytes = 0;
  double seconds = 0;
  for (auto _ : state) {
    net::io_context io(1);
    std::vector<int> calls(sequences, 0);
    int succeeded = 0;
    ipsec_retry::test::allocation_tally bytes;
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t before = bench_support::allocations();
    for (std::size_t i = 0; i < sequences; ++i) {
      ir::asio::async_retry(
          io.get_executor(), policy(),
          [&calls, i](auto h) { h(++calls[i] < calls_per_sequence ? busy : 0u); },
          done_handler{&bytes, &succeeded});
    }
    io.run();
    allocations_in_runs += bench_support::allocations() - before;
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    peak_bytes = std::max(peak_bytes, bytes.peak_bytes.load());
    if (succeeded != static_cast<int>(sequences)) {
      state.SkipWithError("not every sequence succeeded");
      return;
    }
  }
  const double n = static_cast<double>(sequences) * static_cast<double>(state.iterations());
  state.counters["ns/step"] = seconds * 1e9 / (n * calls_per_sequence);
  state.counters["bytes/pending"] =
      static_cast<double>(peak_bytes) / static_cast<double>(sequences);
  state.counters["allocs/seq"] = static_cast<double>(allocations_in_runs) / n;
}
BENCHMARK(BM_AsyncRetry_ConcurrentOnOneThread)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_BlockingRetry_HundredThreads(benchmark::State& state) {
  const auto sequences = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t threads = 100;
  std::uint64_t allocations_in_runs = 0;
  double seconds = 0;
  for (auto _ : state) {
    std::atomic<std::size_t> succeeded{0};
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t before = bench_support::allocations();
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (std::size_t i = t; i < sequences; i += threads) {
          int calls = 0;
          const auto r =
              ir::retry(policy(), [&] { return ++calls < calls_per_sequence ? busy : 0u; });
          if (r) succeeded.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    for (auto& th : pool) th.join();
    allocations_in_runs += bench_support::allocations() - before;
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (succeeded.load() != sequences) {
      state.SkipWithError("not every sequence succeeded");
      return;
    }
  }
  const double n = static_cast<double>(sequences) * static_cast<double>(state.iterations());
  state.counters["ns/step"] = seconds * 1e9 / (n * calls_per_sequence);
  // Only the threads' own allocations (std::thread state, 100 per iteration): retry() allocates
  // nothing.
  state.counters["allocs/seq"] = static_cast<double>(allocations_in_runs) / n;
  state.counters["threads"] = threads;
}
BENCHMARK(BM_BlockingRetry_HundredThreads)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
