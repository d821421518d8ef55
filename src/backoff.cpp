// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/backoff.hpp>

#include <atomic>
#include <chrono>

namespace ipsec_retry {

std::uint64_t fresh_seed() noexcept {
  // A Weyl sequence (lock-free fetch_add) mixed with the steady clock through splitmix64:
  // distinct per call and per process run. The one static here holds no policy state.
  static std::atomic<std::uint64_t> sequence{0};
  const auto ticks =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  splitmix64 mix(ticks ^ sequence.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed));
  return mix();
}

}  // namespace ipsec_retry
