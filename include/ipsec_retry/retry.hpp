// SPDX-License-Identifier: BSL-1.0
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
#include <ipsec_retry/detail/guard_contract.hpp>
#include <ipsec_retry/detail/op_result.hpp>
#include <ipsec_retry/retry_error.hpp>
#include <ipsec_retry/retry_options.hpp>
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

// retry()'s fast path inlines into the caller at every optimization level: GCC 12 at -O2
// (CMake's RelWithDebInfo) otherwise keeps it out of line, and the call plus the result
// returned through memory cost ~2 ns, 1.09x a hand loop (bench/README.md).
#if defined(_MSC_VER)
#define IPSEC_RETRY_FORCE_INLINE __forceinline
#define IPSEC_RETRY_NOINLINE __declspec(noinline)
#else
#define IPSEC_RETRY_FORCE_INLINE [[gnu::always_inline]] inline
#define IPSEC_RETRY_NOINLINE [[gnu::cold, gnu::noinline]]
#endif

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

/// What a step machine asks its driver to do next: the plain loop's machine (built on
/// retry_state) and a typed operation's engine (ipsec/engine.hpp) both answer in these terms,
/// so one driver runs either (the blocking loop below, a discrete-event simulation, an event
/// loop's timers).
struct retry_step {
  enum class action : std::uint8_t {
    call,             ///< make the next call now
    sleep,            ///< wait `delay` (already clipped to the deadline), then slept()
    wait_for_leader,  ///< a coalesced follower: wait at most `delay`, or until woken, then waited()
    done,             ///< the last call succeeded: take its value
    stop,             ///< give up: `reason`
  };
  action what = action::done;
  std::chrono::nanoseconds delay{};  ///< for sleep and wait_for_leader
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
/// A plain value (sizeof: 144 bytes on x86-64 with g++ 12 and clang 14, 88 of them the
/// backoff_schedule; tests/retry_time_test.cpp checks it); no allocation; not thread-safe (one
/// per retry sequence).
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

namespace detail {

template <class Options>
inline constexpr bool has_event_hook = !std::is_same_v<decltype(Options::on_event), no_event_hook>;
template <class Options>
inline constexpr bool has_hook =
    has_event_hook<Options> || !std::is_same_v<decltype(Options::on_retry), no_retry_hook>;

// Calls the op (with the loop's stop token if it takes one); with a translator installed, an
// exception it maps to a code becomes that call's result instead of propagating.
template <class Op, class Translate>
auto call_op(Op& op, const std::stop_token& stop, const Translate& translate) {
  if constexpr (std::is_same_v<Translate, no_exception_translator>) {
    return invoke_op(op, stop);
  } else {
    using raw = op_return_t<Op>;
    try {
      return translated<raw>{invoke_op(op, stop), {}};
    } catch (...) {
      std::optional<std::error_code> code = translate(std::current_exception());
      if (!code) throw;
      return translated<raw>{std::nullopt, *code};
    }
  }
}

// What the loop tells on_event, and the retry_error it returns when it stops without success.
template <class Options>
struct reporter {
  const Options* options;
  time_point start;

  void event(retry_event::kind what, std::uint32_t call, const std::error_code& code,
             nanoseconds attempt, time_point now, nanoseconds next = {},
             stop_reason reason = {}) const {
    if constexpr (has_event_hook<Options>) {
      options->on_event(
          retry_event{what, options->site, call, code, attempt, now - start, next, reason});
    }
  }
  retry_error give_up(const std::error_code& code, stop_reason reason, std::uint32_t calls,
                      nanoseconds attempt, time_point now) const {
    event(retry_event::kind::gave_up, calls, code, attempt, now, {}, reason);
    return retry_error{code, reason, calls, now - start, options->site};
  }
};

// The plain loop's step machine: retry_state, the guard's admission and the last call's result
// of an op returning R. Speaks retry_step, so the one blocking loop (drive) runs it as it runs a
// typed operation's engine (ipsec/engine.hpp).
template <class R, class Guard>
class plain_machine {
 public:
  using traits = op_result<R>;
  using result_type = retry_result<typename traits::value_type>;
  static constexpr bool can_follow = false;

  plain_machine(const retry_policy& policy, const Guard& guard, time_point start,
                std::optional<time_point> deadline,
                R first) noexcept(std::is_nothrow_move_constructible_v<R>)
      : policy_(&policy), state_(policy, start, deadline), pass_(guard), r_(std::move(first)) {}

  // The first call (made by retry()'s fast path, its verdict recorded there) ended at `end`.
  retry_step first_ended(verdict v, time_point end) { return after(v, end); }
  // Call k > 1 ended at `end` with `r`.
  retry_step call_ended(R r, time_point end) {
    r_ = std::move(r);
    const verdict v = traits::classify(policy_->classify(), r_);
    if constexpr (Guard::active) pass_.record(v, traits::windows(r_));
    return after(v, end);
  }
  retry_step resume(time_point now) noexcept { return from(state_.resume(now)); }
  retry_step slept(time_point now) noexcept {
    if (const auto late = state_.before_call(now)) return {retry_step::action::stop, {}, *late};
    return {retry_step::action::call, {}, {}};
  }
  retry_step cancel(time_point) noexcept {
    return {retry_step::action::stop, {}, stop_reason::cancelled};
  }

  std::uint32_t calls() const noexcept { return state_.calls(); }
  std::error_code error() const { return refused_ ? refused_ : traits::error(r_); }
  result_type take_value() { return traits::value(std::move(r_)); }

 private:
  static retry_step from(const next_step& s) noexcept {
    switch (s.what) {
      case next_step::action::succeed:
        return {retry_step::action::done, {}, {}};
      case next_step::action::stop:
        return {retry_step::action::stop, {}, s.reason};
      case next_step::action::call_again:
        break;
    }
    return {retry_step::action::sleep, s.delay, {}};
  }
  retry_step after(verdict v, time_point end) {
    const retry_step s = from(state_.on_call_end(v, end));
    if constexpr (Guard::active) {
      // Refused before sleeping: no point waiting for a call that will not be made.
      if (s.what == retry_step::action::sleep) {
        if (auto refused = pass_.admit(state_.calls() + 1)) {
          if (refused->code) refused_ = refused->code;
          return {retry_step::action::stop, {}, refused->reason};
        }
      }
    }
    return s;
  }

  const retry_policy* policy_;
  retry_state state_;
  held_admission<Guard> pass_;  // the next call's admission; released unless recorded
  R r_;
  std::error_code refused_{};  // the code a guard's refusal names, if any
};

// The one blocking retry loop. It runs a step machine (plain_machine, or a typed operation's
// engine) from step `s`: makes the calls through `call`, runs the hooks and events, sleeps
// through options.sleeper and, for a coalesced follower, waits through it too (the machine's
// wake token ends that wait early when the leader releases or hands over). Every decision is
// the machine's; every time is read from options.clock.
template <class Machine, class Call, class Options>
auto drive(Machine& m, Call&& call, const Options& options, const reporter<Options>& report,
           retry_step s, time_point at, nanoseconds attempt) -> typename Machine::result_type {
  auto clock = options.clock;
  auto sleeper = options.sleeper;
  for (;;) {
    switch (s.what) {
      case retry_step::action::done:
        report.event(retry_event::kind::succeeded, m.calls(), m.error(), attempt, at);
        return m.take_value();
      case retry_step::action::stop:
        return report.give_up(m.error(), s.reason, m.calls(), attempt, at);
      case retry_step::action::sleep:
        if constexpr (has_hook<Options>) {
          options.on_retry(m.calls(), m.error(), s.delay);
          report.event(retry_event::kind::retrying, m.calls(), m.error(), attempt, at, s.delay);
          at = clock.now();  // the hooks' time counts against the deadline
          s = m.resume(at);
          if (s.what != retry_step::action::sleep) continue;
        }
        if (!sleeper.sleep_for(s.delay, options.stop)) {
          at = clock.now();
          s = m.cancel(at);
          continue;
        }
        at = clock.now();  // read again: no call after the deadline
        s = m.slept(at);
        continue;
      case retry_step::action::wait_for_leader:
        if constexpr (Machine::can_follow) {
          m.wait_for_leader(sleeper, s.delay, options.stop);
          at = clock.now();
          s = options.stop.stop_requested() ? m.cancel(at) : m.waited(at);
        } else {
          s = m.cancel(at);  // not produced by a machine that cannot follow
        }
        continue;
      case retry_step::action::call: {
        const time_point call_start = at;
        auto r = call();
        at = clock.now();
        attempt = at - call_start;
        s = m.call_ended(std::move(r), at);
        continue;
      }
    }
  }
}

// The loop after a first call that did not succeed. Kept apart from retry() so the fast path
// stays small enough to inline.
template <class Op, class Options, class R>
retry_result<retry_value_t<Op>> retry_after_failure(const retry_policy& policy, Op& op,
                                                    const Options& options,
                                                    const reporter<Options>& report,
                                                    decltype(Options::clock)& clock, R r,
                                                    verdict v) {
  plain_machine<R, decltype(Options::guard)> m(policy, options.guard, report.start,
                                               options.deadline, std::move(r));
  const time_point end = clock.now();
  return drive(
      m, [&] { return call_op(op, options.stop, options.translate); }, options, report,
      m.first_ended(v, end), end, end - report.start);
}

// The result of a stop requested before call 1, out of line so that retry()'s fast path stays
// small enough for GCC's -O2 inliner.
template <class T, class Options>
IPSEC_RETRY_NOINLINE retry_result<T> cancelled_before_first_call(const reporter<Options>& report) {
  return report.give_up(make_error_code(win32_error::cancelled), stop_reason::cancelled, 0,
                        nanoseconds::zero(), report.start);
}

}  // namespace detail

/// Calls `op` until it succeeds or `policy` says stop, reading time from options.clock and
/// waiting with options.sleeper (retry_options.hpp). Returns the op's value (for code-returning
/// ops: the success or warning code itself, e.g. WARNING_IPSEC_QM_POLICY_PRUNED), or a
/// retry_error. What the op may return, and how each type is read: docs/policies.md ("What the
/// op may return"). An op taking a std::stop_token receives options.stop.
template <class Op, retry_options_type Options>
IPSEC_RETRY_FORCE_INLINE retry_result<detail::retry_value_t<Op>> retry(const retry_policy& policy,
                                                                       Op&& op,
                                                                       const Options& options) {
  using Guard = decltype(Options::guard);
  auto clock = options.clock;
  const detail::reporter<Options> report{&options, clock.now()};
  if (options.stop.stop_requested()) [[unlikely]] {
    return detail::cancelled_before_first_call<detail::retry_value_t<Op>>(report);
  }
  held_admission<Guard> pass(options.guard);  // released unless the call is recorded
  if constexpr (Guard::active) {
    if (auto refused = pass.admit(1)) {
      return report.give_up(refused->code, refused->reason, 0, nanoseconds::zero(), report.start);
    }
  }
  auto r = detail::call_op(op, options.stop, options.translate);
  using traits = detail::op_result<decltype(r)>;
  // ERROR_SUCCESS, S_OK, a falsy error_code or a result holding a value succeed at every site
  // (no list may hold a success code): such a result is neither normalized nor classified.
  const verdict v =
      traits::plain_success(r) ? verdict::success : traits::classify(policy.classify(), r);
  if constexpr (Guard::active) pass.record(v, traits::windows(r));
  if (v == verdict::success) [[likely]] {
    if constexpr (detail::has_event_hook<Options>) {
      const time_point end = clock.now();  // only with an event hook: the attempt's duration
      report.event(retry_event::kind::succeeded, 1, traits::error(r), end - report.start, end);
    }
    return traits::value(std::move(r));
  }
  return detail::retry_after_failure<Op>(policy, op, options, report, clock, std::move(r), v);
}

/// retry() in real time (steady_clock, a cancellable real sleep), no hook, no stop token.
template <class Op>
IPSEC_RETRY_FORCE_INLINE retry_result<detail::retry_value_t<Op>> retry(const retry_policy& policy,
                                                                       Op&& op) {
  return retry(policy, std::forward<Op>(op), retry_options<>{});
}

}  // namespace ipsec_retry
