// ipsec_retry: the retry loop.
//
//   auto policy = ipsec_retry::retry_policy::parse("timeout=5s, initial=10ms").value();
//   auto r = ipsec_retry::retry(policy, [&] { return ::DeleteQMPolicy(srv, 0, name, nullptr); });
//   if (!r) std::cerr << r.error().message() << '\n';   // last code + why it stopped
//
// Rules (docs/policies.md, "The deadline rule"):
//   * Call k+1 starts delay_k after call k ends; the deadline is start of call 1 + timeout (or
//     an absolute deadline from the options, whichever is earlier).
//   * No call is scheduled after the deadline: if the next delay would carry past it, the loop
//     sleeps only until the deadline and makes one final call there (at_deadline=final_call), or
//     stops at once (give_up). A failure at or after the deadline, or of that final call (even
//     if a sleeper woke early), stops with deadline_exceeded.
//     A zero timeout or a deadline already past still allows exactly one call.
//   * The clock is read again after the on_retry hook and before every call: time a hook spends
//     comes out of the sleep, and a hook that runs past the deadline ends the loop
//     (deadline_exceeded). A sleeper that wakes past the deadline gets no call under give_up;
//     under final_call that call is the final one.
//   * attempts counts calls, the first included.
//   * A stop request interrupts the sleep and stops with `cancelled`; requested before the first
//     call, no call is made (the code is then ERROR_CANCELLED).
//   * The result is a success only if the last call's verdict was success.
//   * Exceptions from the op or a hook propagate unchanged; nothing is retried on an exception.
//   * No heap allocation anywhere; when the first call succeeds the loop costs one clock read
//     and a branch over calling the op directly.
#pragma once

#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/detail/op_result.hpp>
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/retry_error.hpp>
#include <ipsec_retry/retry_policy.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace ipsec_retry {

/// What the step API says after a call ended.
struct next_step {
  enum class action : std::uint8_t {
    succeed,     ///< the call succeeded: return its value
    call_again,  ///< wait `delay`, then call again
    stop,        ///< give up: `reason`
  };
  action what = action::succeed;
  std::chrono::nanoseconds delay{};  ///< for call_again; already clipped to the deadline
  stop_reason reason{};              ///< for stop
};

/// The non-blocking retry state machine (the blocking retry() is built on it). Feed it each
/// call's verdict and the time the call ended; it answers "succeed", "call again after D" or
/// "stop with X". Event loops (Asio, the Windows thread pool) schedule the delay themselves.
///
///   retry_state state(policy, clock.now());
///   for (;;) {
///     auto code = op();
///     auto step = state.on_call_end(policy.classify()(code), clock.now());
///     if (step.what != next_step::action::call_again) break;
///     // ... time passes (a log line, a hook): resume() re-clips what is left of the delay
///     step = state.resume(clock.now());
///     if (step.what != next_step::action::call_again) break;
///     sleep(step.delay);
///     if (state.before_call(clock.now())) break;          // woke past the deadline (give_up)
///   }
///
/// A plain value (sizeof: 136 bytes on x86-64); no allocation; not thread-safe (one per retry
/// sequence).
class retry_state {
 public:
  /// `start`: when call 1 starts. The deadline is the earlier of start + timeout and
  /// `absolute_deadline`. The jitter seed is the policy's, or fresh_seed().
  retry_state(const retry_policy& policy, time_point start,
              std::optional<time_point> absolute_deadline = std::nullopt) noexcept;
  /// As above with an explicit jitter seed (overrides the policy's).
  retry_state(const retry_policy& policy, time_point start,
              std::optional<time_point> absolute_deadline, std::uint64_t seed) noexcept;

  /// Records a call that ended at `now` with verdict `v` and decides what comes next. For
  /// call_again the next call is due at now + delay (never after the deadline).
  next_step on_call_end(verdict v, time_point now) noexcept;

  /// After call_again, time has passed (a hook ran) and it is `now`: call_again with what is
  /// left of the delay (due - now, at least 0), or stop(deadline_exceeded) if `now` is already
  /// past the deadline: time the loop spends between calls never extends the deadline.
  next_step resume(time_point now) noexcept;

  /// The next call is about to start at `now` (read after the sleep). Past the deadline:
  /// deadline_exceeded under at_deadline=give_up; under final_call the call goes ahead as the
  /// final one (late only by the sleeper's wake-up latency). Otherwise nullopt: call.
  std::optional<stop_reason> before_call(time_point now) noexcept;

  std::uint32_t calls() const noexcept { return calls_; }
  time_point start() const noexcept { return start_; }
  std::optional<time_point> deadline() const noexcept { return deadline_; }

 private:
  bool past_deadline(time_point now) const noexcept { return deadline_ && now > *deadline_; }

  backoff_schedule schedule_;
  time_point start_;
  std::optional<time_point> deadline_;
  time_point due_{};  // when the next call is due (after call_again)
  std::optional<std::uint32_t> attempts_;
  at_deadline on_deadline_;
  std::uint32_t calls_ = 0;
  bool final_call_scheduled_ = false;  // the last delay was clipped to the deadline
};

/// The default on_retry hook: does nothing (and costs no clock read).
struct no_retry_hook {
  void operator()(std::uint32_t, const std::error_code&, std::chrono::nanoseconds) const noexcept {}
};

/// How retry() reads time, waits, reports and stops. The fields, in declaration order (the
/// order designated initializers must follow): clock, sleeper, on_retry, stop, deadline, guard.
///
/// Build it with the builders, which compile on every compiler (g++ 12, clang 14, MSVC,
/// MinGW) because they need no class template argument deduction:
///   ipsec_retry::options()                                    real time, no hook
///   ipsec_retry::options().with_time(vt)                      virtual time: vt's clock+sleeper
///   ipsec_retry::options().with_on_retry(log).with_stop(source.get_token())
///   ipsec_retry::options().with_guard(site.guard()).with_deadline(t)
/// or, where the compiler deduces aggregate templates (g++ >= 11, clang >= 17, MSVC 19.28),
///   ipsec_retry::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()}
/// on_retry(call, code, next_delay) runs after call `call` failed transiently, before the
/// sleep of `next_delay`. `guard` (guards.hpp: a retry_budget, a circuit_breaker, both) is asked
/// before every call and told every verdict; the default no_guard costs nothing. A virtual clock
/// with the real sleeper, or the reverse, does not compile (clock.hpp).
template <clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard>
struct retry_options {
  static_assert(same_time_domain<Clock, Sleeper>,
                "ipsec_retry::retry_options: the clock and the sleeper are of different time "
                "domains (a virtual clock with the real sleeper spins through real time while "
                "the clock stands still, and the reverse never sleeps); pass both from one "
                "source: options().with_time(vt)");

  Clock clock{};
  Sleeper sleeper{};
  OnRetry on_retry{};
  std::stop_token stop{};
  std::optional<time_point> deadline{};  ///< absolute; the earlier of it and start + timeout wins
  Guard guard{};

  /// The same options reading `time.clock()` and sleeping with `time.sleeper()` (virtual_time,
  /// or any type with both): clock and sleeper always come as a matched pair.
  template <class Time>
  requires requires(Time& t) {
    { t.clock() } -> clock_source;
    { t.sleeper() } -> ipsec_retry::sleeper;
  }
  auto with_time(Time& time) const {
    return retry_options<decltype(time.clock()), decltype(time.sleeper()), OnRetry, Guard>{
        time.clock(), time.sleeper(), on_retry, stop, deadline, guard};
  }
  /// A clock and a sleeper of your own (they must be of the same time domain).
  template <clock_source C, ipsec_retry::sleeper S>
  retry_options<C, S, OnRetry, Guard> with_clock_and_sleeper(C c, S s) const {
    return {std::move(c), std::move(s), on_retry, stop, deadline, guard};
  }
  template <class Hook>
  retry_options<Clock, Sleeper, Hook, Guard> with_on_retry(Hook hook) const {
    return {clock, sleeper, std::move(hook), stop, deadline, guard};
  }
  template <class G>
  retry_options<Clock, Sleeper, OnRetry, G> with_guard(G g) const {
    return {clock, sleeper, on_retry, stop, deadline, std::move(g)};
  }
  retry_options with_stop(std::stop_token token) const {
    retry_options copy = *this;
    copy.stop = std::move(token);
    return copy;
  }
  retry_options with_deadline(time_point at) const {
    retry_options copy = *this;
    copy.deadline = at;
    return copy;
  }
};

/// Real time, no hook, no stop token, no guard: the start of every builder chain.
inline retry_options<> options() noexcept {
  return {};
}

namespace detail {

// The loop after a first call that did not succeed. Kept apart from retry() so the fast path
// stays small enough to inline.
template <class Op, class Clock, class Sleeper, class OnRetry, class Guard>
retry_result<retry_value_t<Op>> retry_after_failure(
    const retry_policy& policy, Op& op,
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options, Clock& clock, time_point start,
    op_return_t<Op> r, verdict v) {
  using traits = op_result<op_return_t<Op>>;
  Sleeper sleeper = options.sleeper;
  retry_state state(policy, start, options.deadline);
  const auto stopped = [&](stop_reason reason, time_point at) {
    return retry_error{traits::error(r), reason, state.calls(), at - start};
  };
  for (;;) {
    const time_point end = clock.now();
    next_step step = state.on_call_end(v, end);
    if (step.what == next_step::action::succeed) return traits::value(std::move(r));
    if (step.what == next_step::action::stop) return stopped(step.reason, end);
    held_admission<Guard> pass(options.guard);  // released unless the call is recorded
    if constexpr (Guard::active) {
      // Refused before sleeping: no point waiting for a call that will not be made.
      if (auto refused = pass.admit(state.calls() + 1)) {
        return retry_error{refused->code ? refused->code : traits::error(r), refused->reason,
                           state.calls(), end - start};
      }
    }
    if constexpr (!std::is_same_v<OnRetry, no_retry_hook>) {
      options.on_retry(state.calls(), traits::error(r), step.delay);
      const time_point after_hook = clock.now();  // the hook's time counts against the deadline
      step = state.resume(after_hook);
      if (step.what == next_step::action::stop) return stopped(step.reason, after_hook);
    }
    if (!sleeper.sleep_for(step.delay, options.stop)) {
      return stopped(stop_reason::cancelled, clock.now());
    }
    const time_point call_start = clock.now();  // read again: no call after the deadline
    if (const auto late = state.before_call(call_start)) return stopped(*late, call_start);
    r = std::invoke(op);
    v = traits::classify(policy.classify(), r);
    if constexpr (Guard::active) pass.record(v, traits::windows(r));
  }
}

}  // namespace detail

/// Calls `op` until it succeeds or `policy` says stop, reading time from options.clock and
/// waiting with options.sleeper. Returns the op's value (for code-returning ops: the success
/// or warning code itself, e.g. WARNING_IPSEC_QM_POLICY_PRUNED), or a retry_error. What the op
/// may return, and how each type is read: docs/policies.md ("What the op may return").
template <class Op, class Clock, class Sleeper, class OnRetry, class Guard>
retry_result<detail::retry_value_t<Op>> retry(
    const retry_policy& policy, Op&& op,
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options) {
  using traits = detail::op_result<detail::op_return_t<Op>>;
  Clock clock = options.clock;
  const time_point start = clock.now();
  if (options.stop.stop_requested()) [[unlikely]] {
    return retry_error{make_error_code(win32_error::cancelled), stop_reason::cancelled, 0,
                       std::chrono::nanoseconds::zero()};
  }
  held_admission<Guard> pass(options.guard);  // released unless the call is recorded
  if constexpr (Guard::active) {
    if (auto refused = pass.admit(1)) {
      return retry_error{refused->code, refused->reason, 0, std::chrono::nanoseconds::zero()};
    }
  }
  detail::op_return_t<Op> r = std::invoke(op);
  const verdict v = traits::classify(policy.classify(), r);
  if constexpr (Guard::active) pass.record(v, traits::windows(r));
  if (v == verdict::success) [[likely]]
    return traits::value(std::move(r));
  return detail::retry_after_failure(policy, op, options, clock, start, std::move(r), v);
}

/// retry() in real time (steady_clock, a cancellable real sleep), no hook, no stop token.
template <class Op>
retry_result<detail::retry_value_t<Op>> retry(const retry_policy& policy, Op&& op) {
  return retry(policy, std::forward<Op>(op), retry_options<>{});
}

}  // namespace ipsec_retry
