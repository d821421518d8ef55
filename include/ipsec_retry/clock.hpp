// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: injectable time. A clock says what time it is; a sleeper waits.
//
// The retry loop reads time only through a `clock_source` and waits only through a `sleeper`,
// so tests (the library's and yours) run in virtual time: no real sleeping, exact delays.
//
//   ipsec_retry::virtual_time vt;                       // starts at time_point{} (t = 0)
//   auto r = ipsec_retry::retry(policy, op, ipsec_retry::options().with_time(vt));
//   vt.elapsed();                                        // how much virtual time the loop took
//
// Clocks and sleepers name their time domain (`using time_domain = real_time_domain;`), and a
// virtual clock paired with the real sleeper, or the reverse, does not compile (retry.hpp):
// such a loop would spin through real time while its clock stood still. A clock or sleeper of
// your own that names no domain pairs with anything.
#pragma once

#include <ipsec_retry/detail/saturate.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <thread>
#include <type_traits>

namespace ipsec_retry {

/// The time domain of the steady clock and the real sleeper.
struct real_time_domain {};
/// The time domain of virtual_time's clock and sleeper.
struct virtual_time_domain {};

/// T::time_domain, or void when T names none (a user-written clock or sleeper).
template <class T>
struct time_domain_of {
  using type = void;
};
template <class T>
requires requires {
  typename T::time_domain;
}
struct time_domain_of<T> {
  using type = typename T::time_domain;
};

/// Whether a clock and a sleeper may drive one loop: both in the same domain, or either one
/// naming none.
template <class Clock, class Sleeper>
inline constexpr bool same_time_domain =
    std::is_void_v<typename time_domain_of<Clock>::type> ||
    std::is_void_v<typename time_domain_of<Sleeper>::type> ||
    std::is_same_v<typename time_domain_of<Clock>::type, typename time_domain_of<Sleeper>::type>;

/// The library's time point: steady (monotonic) time, nanosecond ticks.
using time_point = std::chrono::steady_clock::time_point;
using std::chrono::nanoseconds;

/// Anything with `now()` returning a time_point. Must be monotonic for deadlines to mean much;
/// the loop still reports the truth if it is not (see docs/policies.md).
template <class C>
concept clock_source = requires(C& c) {
  { c.now() } -> std::same_as<time_point>;
};

/// Anything with `sleep_for(d, stop)` that waits about `d` and returns false when `stop` was
/// requested (before or during the wait), true otherwise. Waking late or early is tolerated:
/// the loop schedules from the clock, never from the sleeper.
template <class S>
concept sleeper = requires(S& s, nanoseconds d, const std::stop_token& stop) {
  { s.sleep_for(d, stop) } -> std::same_as<bool>;
};

/// The default clock: std::chrono::steady_clock (never system_clock: wall-clock jumps must not
/// move deadlines).
struct steady_clock_source {
  using time_domain = real_time_domain;
  time_point now() const noexcept { return std::chrono::steady_clock::now(); }
};

#if defined(_WIN32)
namespace detail {
/// real_sleeper's wait with MinGW-w64's libstdc++: a waitable timer, the token polled between
/// slices (src/windows_sleep.cpp). Same contract as sleep_for.
bool windows_sleep_for(nanoseconds d, const std::stop_token& stop);
}  // namespace detail
#endif

/// The default sleeper: a cancellable real wait. A stop request interrupts it promptly: a
/// condition variable that the stop callback notifies; with a libstdc++ that has no futexes
/// there is no stop callback (see the branches below) and the token is polled between short
/// waits instead (on MinGW a waitable timer in 2 ms slices, elsewhere 1 ms
/// std::this_thread::sleep_for slices). Stateless; allocates nothing.
struct real_sleeper {
  using time_domain = real_time_domain;
  bool sleep_for(nanoseconds d, const std::stop_token& stop) const {
    if (stop.stop_requested()) return false;
    if (d <= nanoseconds::zero()) return true;
#if defined(__GLIBCXX__) && !defined(_GLIBCXX_HAVE_LINUX_FUTEX) && defined(_WIN32)
    // MinGW-w64 (GCC 12's libstdc++, no futexes): ~stop_callback, racing its callback on the
    // thread that requested the stop, waits on a semaphore whose mutex/condvar fallback can miss
    // the wake-up and block forever. So no stop_callback: a (high-resolution) waitable timer
    // re-armed in 2 ms slices, the token checked between them, the last 1 ms yielded; it falls
    // back to std::this_thread::sleep_for slices only when no timer can be created
    // (src/windows_sleep.cpp).
    return detail::windows_sleep_for(d, stop);
#elif defined(__GLIBCXX__) && !defined(_GLIBCXX_HAVE_LINUX_FUTEX)
    // Other libstdc++ builds without futexes, same race: poll the token in 1 ms slices.
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      const nanoseconds left = d - (std::chrono::steady_clock::now() - start);
      if (left <= nanoseconds::zero()) return true;
      std::this_thread::sleep_for(std::min<nanoseconds>(left, std::chrono::milliseconds(1)));
      if (stop.stop_requested()) return false;
    }
#else
    std::mutex mutex;
    std::condition_variable wake;
    bool stopped = false;
    // Runs at once (in this thread) if the stop was requested in between.
    std::stop_callback on_stop(stop, [&] {
      {
        std::lock_guard<std::mutex> lock(mutex);
        stopped = true;
      }
      wake.notify_all();
    });
    std::unique_lock<std::mutex> lock(mutex);
    // Waits against steady_clock in slices of at most 50 ms, re-checking the flag the callback
    // sets under the mutex: a lost notification would cost one slice, never a hang.
    const auto until = std::chrono::steady_clock::now() + d;
    while (!stopped) {
      const auto left = until - std::chrono::steady_clock::now();
      if (left <= nanoseconds::zero()) break;
      wake.wait_for(lock, std::min<nanoseconds>(left, std::chrono::milliseconds{50}),
                    [&] { return stopped; });
    }
    return !stopped;
#endif
  }
};

class virtual_time;

/// A clock_source reading a virtual_time. A small handle: copy it freely.
class virtual_clock {
 public:
  using time_domain = virtual_time_domain;
  explicit virtual_clock(const virtual_time& time) noexcept : time_(&time) {}
  time_point now() const noexcept;

 private:
  const virtual_time* time_;
};

/// A sleeper that advances a virtual_time by the requested delay instead of waiting.
/// wait_for() is the other kind of wait, a coalesced follower's (ipsec/engine.hpp): it does not
/// move time but lets the threads that sleep (the leader) move it.
class virtual_sleeper {
 public:
  using time_domain = virtual_time_domain;
  explicit virtual_sleeper(virtual_time& time) noexcept : time_(&time) {}
  bool sleep_for(nanoseconds d, const std::stop_token& stop) const noexcept;
  /// Blocks until other threads (their sleep_for, or advance()/set()) have moved the clock to
  /// at least now + d (true), or `stop` or `wake` is requested (false). Polls every 20 us of
  /// real time; never advances the clock, and is not counted in sleeps().
  bool wait_for(nanoseconds d, const std::stop_token& stop, const std::stop_token& wake = {}) const;

 private:
  virtual_time* time_;
};

/// Virtual time for tests: a thread-safe nanosecond counter that only moves when told to (or
/// when its sleeper "sleeps"). Saturates instead of overflowing. Not copyable: hand out
/// clock() and sleeper() handles.
class virtual_time {
 public:
  explicit virtual_time(time_point start = time_point{}) noexcept
      : start_(start), ticks_(start.time_since_epoch().count()) {}
  virtual_time(const virtual_time&) = delete;
  virtual_time& operator=(const virtual_time&) = delete;

  time_point now() const noexcept {
    return time_point{nanoseconds{ticks_.load(std::memory_order_acquire)}};
  }
  /// Moves time forward by `d` (negative `d` moves it back: for clock-fault tests).
  void advance(nanoseconds d) noexcept {
    auto current = ticks_.load(std::memory_order_relaxed);
    while (!ticks_.compare_exchange_weak(current, detail::saturating_add(current, d.count()),
                                         std::memory_order_acq_rel)) {
    }
  }
  /// Jumps to `t` (forwards or backwards).
  void set(time_point t) noexcept {
    ticks_.store(t.time_since_epoch().count(), std::memory_order_release);
  }
  /// now() - the start time given to the constructor.
  nanoseconds elapsed() const noexcept { return now() - start_; }
  /// Number of sleeps made through sleeper() handles, and their total length.
  std::uint64_t sleeps() const noexcept { return sleeps_.load(std::memory_order_relaxed); }
  nanoseconds slept() const noexcept { return nanoseconds{slept_.load(std::memory_order_relaxed)}; }

  virtual_clock clock() const noexcept { return virtual_clock{*this}; }
  virtual_sleeper sleeper() noexcept { return virtual_sleeper{*this}; }

 private:
  friend class virtual_sleeper;

  void record_sleep(nanoseconds d) noexcept {
    sleeps_.fetch_add(1, std::memory_order_relaxed);
    slept_.fetch_add(d.count(), std::memory_order_relaxed);
    advance(d);
  }

  time_point start_;
  std::atomic<std::int64_t> ticks_;
  std::atomic<std::uint64_t> sleeps_{0};
  std::atomic<std::int64_t> slept_{0};
};

inline time_point virtual_clock::now() const noexcept {
  return time_->now();
}

inline bool virtual_sleeper::sleep_for(nanoseconds d, const std::stop_token& stop) const noexcept {
  if (stop.stop_requested()) return false;
  time_->record_sleep(d > nanoseconds::zero() ? d : nanoseconds::zero());
  return !stop.stop_requested();
}

inline bool virtual_sleeper::wait_for(nanoseconds d, const std::stop_token& stop,
                                      const std::stop_token& wake) const {
  const time_point until = time_->now() + std::max(d, nanoseconds::zero());
  for (;;) {
    if (stop.stop_requested() || wake.stop_requested()) return false;
    if (time_->now() >= until) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

static_assert(clock_source<steady_clock_source> && clock_source<virtual_clock>);
static_assert(sleeper<real_sleeper> && sleeper<virtual_sleeper>);

}  // namespace ipsec_retry
