// SPDX-License-Identifier: BSL-1.0
// real_sleeper's wait on Windows with MinGW-w64's libstdc++ (see include/ipsec_retry/clock.hpp).
//
// The wait is a waitable timer, high resolution where the OS offers it
// (CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, Windows 10 1803 and later), else a normal one. A timer
// fires at its due time to within about 0.5 ms (high resolution) or one scheduler tick (15.6 ms
// by default, normal timer); std::this_thread::sleep_for on MinGW ends on a tick, so the old 1 ms
// slices each took up to 15.6 ms and a wait until the deadline could end a tick late.
//
// Why not an event that a std::stop_callback sets, waited on together with the timer: in GCC 12's
// libstdc++ for MinGW, ~stop_callback, when the callback has been run by the thread that
// requested the stop, waits for it to finish on a std::binary_semaphore (<stop_token>,
// _M_remove_callback: _M_done.acquire()). Without futexes that semaphore is the atomic-wait
// waiter pool (a mutex and a condition variable), whose wake-up can be missed, leaving the
// destructor blocked for ever. A woken sleeper destroys its callback at once, exactly while the
// requesting thread is finishing SetEvent, so that race is the common case, whatever the
// callback does. So no stop_callback here: the timer is re-armed in slices of at most
// `stop_poll` and the token is checked between them; a stop ends the wait within one slice plus
// the timer's lateness.
//
// The last `spin_margin` of the wait yields (std::this_thread::yield) instead of waiting on the
// timer, so the wait ends at the requested time rather than when a late timer fires: a timer
// fires up to a few hundred microseconds late under Wine (its server's timers) and on Windows
// without high-resolution timers up to a tick late. The old 1 ms sleep_for slices did the same
// in their last millisecond (MinGW's sleep_for rounds down to whole milliseconds: Sleep(0)).
//
// One timer per thread, created on the thread's first sleep and closed when the thread exits
// (a fiber-local slot's callback): creating and closing a kernel object costs 60-170 us under
// Wine (a round trip to its server).
#include <ipsec_retry/clock.hpp>

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stop_token>
#include <thread>

#ifndef CREATE_WAITABLE_TIMER_HIGH_RESOLUTION
#define CREATE_WAITABLE_TIMER_HIGH_RESOLUTION 0x00000002
#endif

namespace ipsec_retry::detail {
namespace {

// How often a sleep looks at its stop token.
constexpr nanoseconds stop_poll = std::chrono::milliseconds{2};
// The end of a wait that yields instead of waiting on the timer.
constexpr nanoseconds spin_margin = std::chrono::milliseconds{1};

// A new waitable timer: high resolution when the OS offers it, else a normal timer, else none.
HANDLE create_timer() noexcept {
  HANDLE h = CreateWaitableTimerExW(nullptr, nullptr, CREATE_WAITABLE_TIMER_HIGH_RESOLUTION,
                                    TIMER_ALL_ACCESS);
  return h != nullptr ? h : CreateWaitableTimerExW(nullptr, nullptr, 0, TIMER_ALL_ACCESS);
}

void WINAPI close_timer(void* timer) noexcept {
  if (timer != nullptr) CloseHandle(static_cast<HANDLE>(timer));
}

// The calling thread's timer, kept in a fiber-local slot whose callback closes it when the
// thread exits. Not a C++ thread_local: with MinGW's libstdc++ a thread_local with a destructor
// registers it through __cxa_thread_atexit, which allocates with operator new, and no path of
// the loop allocates (tests/alloc_test.cpp). nullptr: no timer (the caller uses sleep_for).
HANDLE thread_timer() noexcept {
  static const DWORD slot = FlsAlloc(close_timer);
  if (slot == FLS_OUT_OF_INDEXES) return nullptr;
  auto timer = static_cast<HANDLE>(FlsGetValue(slot));
  if (timer == nullptr) {
    timer = create_timer();
    if (timer != nullptr && !FlsSetValue(slot, timer)) {
      CloseHandle(timer);
      return nullptr;
    }
  }
  return timer;
}

// Waits `d` (> 0) on `timer`; false if the timer could not be used.
bool wait_on(HANDLE timer, nanoseconds d) noexcept {
  if (timer == nullptr) return false;
  // Relative due times are negative, in 100 ns units; round up so the wait is never short.
  LARGE_INTEGER due;
  due.QuadPart = -static_cast<LONGLONG>((d.count() + 99) / 100);
  if (!SetWaitableTimer(timer, &due, 0, nullptr, nullptr, FALSE)) return false;
  return WaitForSingleObject(timer, INFINITE) == WAIT_OBJECT_0;
}

}  // namespace

bool windows_sleep_for(nanoseconds d, const std::stop_token& stop) {
  const auto until = std::chrono::steady_clock::now() + d;
  const HANDLE timer = thread_timer();
  for (;;) {
    const nanoseconds left = until - std::chrono::steady_clock::now();
    if (left <= nanoseconds::zero()) return true;
    if (left <= spin_margin) {
      std::this_thread::yield();
    } else {
      const nanoseconds slice = std::min(left - spin_margin, stop_poll);
      if (!wait_on(timer, slice)) std::this_thread::sleep_for(slice);
    }
    if (stop.stop_requested()) return false;
  }
}

}  // namespace ipsec_retry::detail
