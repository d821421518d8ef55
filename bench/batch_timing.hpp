// SPDX-License-Identifier: BSL-1.0
// Interleaved batch timing shared by retry_bench and the installed-consumer benchmark: each
// batch of `batch` calls is timed with two clock reads, and the median per call over all
// batches ignores the batches another process preempted.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
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

}  // namespace ipsec_retry_bench
