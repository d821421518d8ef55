// SPDX-License-Identifier: BSL-1.0
// "allocs/iter" for the benchmarks that promise no heap allocation. It includes
// counting_new.hpp, which replaces the global operators: include it in exactly one source file
// of a benchmark program.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "counting_new.hpp"

namespace bench_support {

inline std::uint64_t allocations() noexcept {
  return allocation_count.load(std::memory_order_relaxed);
}

/// True when the counting operator new is the one the whole process uses, shared libraries
/// included: std::runtime_error(const char*) allocates its message inside libstdc++.so.
inline bool allocation_counter_is_hooked() {
  const std::uint64_t before = allocations();
  {
    std::runtime_error e("a message that libstdc++ copies to the heap");
    benchmark::DoNotOptimize(e);
  }
  return allocations() != before;
}

/// Sets "allocs/iter" (allocations per iteration) and turns any allocation into a benchmark
/// error, which the ctest smoke run treats as a failure.
inline void report_allocations(benchmark::State& state, std::uint64_t allocated) {
  state.counters["allocs/iter"] =
      benchmark::Counter(static_cast<double>(allocated), benchmark::Counter::kAvgIterations);
  if (allocated != 0) {
    static std::string message;  // outlives the call, whatever SkipWithError keeps
    message = "allocated " + std::to_string(allocated) + " times in " +
              std::to_string(state.iterations()) + " iterations; the loop must not allocate";
    state.SkipWithError(message.c_str());
  }
}

}  // namespace bench_support
