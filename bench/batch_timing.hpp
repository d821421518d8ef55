// SPDX-License-Identifier: BSL-1.0
// Interleaved batch timing shared by retry_bench and the installed-consumer benchmark: each
// batch of `batch` calls is timed with two clock reads, and the median per call over all
// batches ignores the batches another process preempted.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(_MSC_VER)
#define IPSEC_RETRY_BENCH_NOINLINE __declspec(noinline)
#else
#define IPSEC_RETRY_BENCH_NOINLINE __attribute__((noinline))
#endif

namespace ipsec_retry_bench {

/// ns per call of `f` over one batch of `batch` calls.
template <class F>
IPSEC_RETRY_BENCH_NOINLINE double time_batch_ns(F& f, int batch) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < batch; ++i) f();
  const auto t1 = std::chrono::steady_clock::now();
  return static_cast<double>((t1 - t0).count()) / batch;
}

/// The median of `v` (reorders it); 0 for an empty vector.
inline double median(std::vector<double>& v) {
  if (v.empty()) return 0.0;
  const auto middle = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), middle, v.end());
  return *middle;
}

/// Times each of `variants` in interleaved batches of `batch` calls, once per benchmark
/// iteration, and returns each one's median ns per call (in the order given). `allocations()`
/// is read around the timed loop only (the sample storage is reserved before it); what it
/// counted in between goes to `allocated`.
template <class Allocations, class... Variants>
std::array<double, sizeof...(Variants)> interleaved_medians(benchmark::State& state, int batch,
                                                            Allocations allocations,
                                                            std::uint64_t& allocated,
                                                            Variants&... variants) {
  std::array<std::vector<double>, sizeof...(Variants)> samples;
  for (auto& v : samples) v.reserve(static_cast<std::size_t>(state.max_iterations));
  const std::uint64_t before = allocations();
  for (auto _ : state) {
    std::size_t i = 0;
    ((samples[i++].push_back(time_batch_ns(variants, batch))), ...);
  }
  allocated = allocations() - before;
  std::array<double, sizeof...(Variants)> medians{};
  for (std::size_t i = 0; i < medians.size(); ++i) medians[i] = median(samples[i]);
  return medians;
}

}  // namespace ipsec_retry_bench
