// SPDX-License-Identifier: BSL-1.0
// An allocator over std::allocator that counts what goes through it: live and total
// allocations and live and peak bytes. Shared by the Asio tests and benchmark, whose handlers
// name it as their associated allocator to see the memory an operation takes from them.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace ipsec_retry::test {

struct allocation_tally {
  std::atomic<long> live{0};         ///< allocations not yet freed
  std::atomic<long> allocations{0};  ///< allocations in all
  std::atomic<std::size_t> live_bytes{0};
  std::atomic<std::size_t> peak_bytes{0};
};

template <class T>
struct counting_allocator {
  using value_type = T;
  allocation_tally* tally;
  explicit counting_allocator(allocation_tally* t) noexcept : tally(t) {}
  template <class U>
  counting_allocator(const counting_allocator<U>& o) noexcept : tally(o.tally) {}
  T* allocate(std::size_t n) {
    ++tally->live;
    ++tally->allocations;
    const std::size_t now = tally->live_bytes += n * sizeof(T);
    std::size_t peak = tally->peak_bytes.load();
    while (now > peak && !tally->peak_bytes.compare_exchange_weak(peak, now)) {
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    --tally->live;
    tally->live_bytes -= n * sizeof(T);
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const counting_allocator<U>& o) const noexcept {
    return tally == o.tally;
  }
};

}  // namespace ipsec_retry::test
