// ipsec_retry: the retry loop.
//
//   auto policy = ipsec_retry::retry_policy::parse("timeout=5s, initial=10ms").value();
//   auto r = ipsec_retry::retry(policy, [&] { return ::DeleteQMPolicy(server, 0, name, nullptr);
//   }); if (!r) std::cerr << r.error().message() << '\n';   // last code + why it stopped
//
// Rules (DESIGN section 2):
//   * Call k+1 starts delay_k after call k ends; the deadline is start of call 1 + timeout (or
//     an absolute deadline from the options, whichever is earlier).
//   * No call is scheduled after the deadline: if the next delay would carry past it, the loop
//     sleeps only until the deadline and makes one final call there (at_deadline=final_call), or
//     stops at once (give_up). A failure at or after the deadline, or of that final call (even
//     if a sleeper woke early), stops with deadline_exceeded.
//     A zero timeout or a deadline already past still allows exactly one call.
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
#include <ipsec_retry/guards.hpp>
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

/// Why retrying stopped.
enum class stop_reason : std::uint8_t {
  permanent_error,     ///< the last call's verdict was permanent
  attempts_exhausted,  ///< `attempts` calls were made
  deadline_exceeded,   ///< the deadline passed (or, with give_up, the next delay would cross it)
  cancelled,           ///< the stop_token was triggered
  budget_exhausted,    ///< a shared retry budget refused the retry
  circuit_open,        ///< a circuit breaker refused the call
};

constexpr std::string_view to_string(stop_reason r) noexcept {
  switch (r) {
    case stop_reason::permanent_error:
      return "permanent_error";
    case stop_reason::attempts_exhausted:
      return "attempts_exhausted";
    case stop_reason::deadline_exceeded:
      return "deadline_exceeded";
    case stop_reason::cancelled:
      return "cancelled";
    case stop_reason::budget_exhausted:
      return "budget_exhausted";
    case stop_reason::circuit_open:
      return "circuit_open";
  }
  return "permanent_error";
}

/// A failed retry: the last Windows code and how the loop got there.
struct retry_error {
  std::error_code code;              ///< the last call's code (win32_category for Windows codes)
  stop_reason reason;                ///< why retrying stopped
  std::uint32_t calls;               ///< calls made, 0 if cancelled before the first
  std::chrono::nanoseconds elapsed;  ///< from the start of call 1 to the end of the last call

  /// e.g. "ERROR_IPSEC_QM_POLICY_PENDING_DELETION (13023): The Quick Mode policy is pending
  /// deletion. [deadline_exceeded after 12 calls in 5s]". Allocates; call it off the hot path.
  std::string message() const;

  friend bool operator==(const retry_error&, const retry_error&) = default;
};
/// Outcome's hooks: `.value()` on a failed retry throws std::system_error(code) whose what()
/// is message().
inline std::error_code make_error_code(const retry_error& e) noexcept {
  return e.code;
}
[[noreturn]] void outcome_throw_as_system_error_with_payload(const retry_error& e);

/// The value of the op (or its success/warning code), or a retry_error.
template <class T>
using retry_result = outcome::std_result<T, retry_error>;

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
///     schedule_after(step.delay);
///   }
///
/// A plain value (~120 bytes); no allocation; not thread-safe (one per retry sequence).
class retry_state {
 public:
  /// `start`: when call 1 starts. The deadline is the earlier of start + timeout and
  /// `absolute_deadline`. The jitter seed is the policy's, or fresh_seed().
  retry_state(const retry_policy& policy, time_point start,
              std::optional<time_point> absolute_deadline = std::nullopt) noexcept;
  /// As above with an explicit jitter seed (overrides the policy's).
  retry_state(const retry_policy& policy, time_point start,
              std::optional<time_point> absolute_deadline, std::uint64_t seed) noexcept;

  /// Records a call that ended at `now` with verdict `v` and decides what comes next.
  next_step on_call_end(verdict v, time_point now) noexcept;

  std::uint32_t calls() const noexcept { return calls_; }
  time_point start() const noexcept { return start_; }
  std::optional<time_point> deadline() const noexcept { return deadline_; }

 private:
  backoff_schedule schedule_;
  time_point start_;
  std::optional<time_point> deadline_;
  std::optional<std::uint32_t> attempts_;
  at_deadline on_deadline_;
  std::uint32_t calls_ = 0;
  bool final_call_scheduled_ = false;  // the last delay was clipped to the deadline
};

/// The default on_retry hook: does nothing.
struct no_retry_hook {
  void operator()(std::uint32_t, const std::error_code&, std::chrono::nanoseconds) const noexcept {}
};

/// How retry() reads time, waits, reports and stops. Aggregate with defaults:
///   retry_options{}                                         real time, no hook
///   retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()}   virtual time
///   retry_options{.on_retry = [](std::uint32_t call, const std::error_code& ec,
///                                std::chrono::nanoseconds next) { log(call, ec, next); },
///                 .stop = source.get_token()}
/// on_retry(call, code, next_delay) runs after call `call` failed transiently, before the
/// sleep of `next_delay`. `guard` (guards.hpp: a retry_budget, a circuit_breaker, both) is asked
/// before every call and told every verdict; the default no_guard costs nothing.
template <clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard>
struct retry_options {
  Clock clock{};
  Sleeper sleeper{};
  OnRetry on_retry{};
  std::stop_token stop{};
  std::optional<time_point> deadline{};  ///< absolute; the earlier of it and start + timeout wins
  Guard guard{};
};

namespace detail {

template <class>
inline constexpr bool unsupported_op_result = false;

template <class R>
concept win32_dword = std::unsigned_integral<R> && sizeof(R) == 4 && !std::same_as<R, bool>;
// HRESULT is LONG, which is `long` (32-bit) on Windows; elsewhere `long` is not an HRESULT.
template <class R>
concept windows_hresult = std::same_as<R, long> && sizeof(long) == 4;

template <class R>
struct is_std_result : std::false_type {};
template <class T, class P>
struct is_std_result<outcome::basic_result<T, std::error_code, P>> : std::true_type {};

/// How retry() reads an op's return value: its verdict, its error_code and its success value.
template <class R>
struct op_result {
  static_assert(unsupported_op_result<R>,
                "the op must return a Win32 code (DWORD / std::uint32_t / win32_error), an "
                "HRESULT (ipsec_retry::hresult, or HRESULT on Windows), a std::error_code or an "
                "ipsec_retry::result<T>");
};

template <class R>
requires win32_dword<R> || std::same_as<R, win32_error>
struct op_result<R> {
  using value_type = win32_error;
  // A DWORD may carry an HRESULT (0x8007xxxx): normalize it like one.
  static std::uint32_t normalized(R r) noexcept {
    return normalize(hresult{static_cast<std::uint32_t>(r)});
  }
  static verdict classify(const classifier& c, R r) noexcept { return c(normalized(r)); }
  static std::error_code error(R r) noexcept { return make_error_code(win32_error{normalized(r)}); }
  static std::optional<std::uint32_t> windows(R r) noexcept { return normalized(r); }
  static value_type value(R r) noexcept { return win32_error{static_cast<std::uint32_t>(r)}; }
};

template <class R>
requires windows_hresult<R> || std::same_as<R, hresult>
struct op_result<R> {
  using value_type = hresult;
  static hresult as_hresult(R r) noexcept { return hresult{static_cast<std::uint32_t>(r)}; }
  static verdict classify(const classifier& c, R r) noexcept {
    // Any success HRESULT (S_OK, S_FALSE, ...) is a success unless the site says otherwise.
    const hresult h = as_hresult(r);
    return succeeded(h) && !c.retry_on_codes().contains(to_underlying(h)) &&
                   !c.never_retry_codes().contains(to_underlying(h))
               ? verdict::success
               : c(normalize(h));
  }
  static std::error_code error(R r) noexcept { return make_error_code(as_hresult(r)); }
  static std::optional<std::uint32_t> windows(R r) noexcept { return normalize(as_hresult(r)); }
  static value_type value(R r) noexcept { return as_hresult(r); }
};

template <>
struct op_result<std::error_code> {
  using value_type = std::error_code;
  static verdict classify(const classifier& c, const std::error_code& r) noexcept { return c(r); }
  static std::error_code error(const std::error_code& r) noexcept { return r; }
  static std::optional<std::uint32_t> windows(const std::error_code& r) noexcept {
    return r ? windows_code(r) : std::optional<std::uint32_t>(0u);
  }
  static value_type value(std::error_code r) noexcept { return r; }
};

template <class R>
requires is_std_result<R>::value struct op_result<R> {
  using value_type = typename R::value_type;
  static verdict classify(const classifier& c, const R& r) noexcept {
    if (r.has_value()) return verdict::success;
    const verdict v = c(r.error());
    // A result without a value cannot become a success with one: never invent a value.
    if (v == verdict::success && !std::is_void_v<value_type>) return verdict::permanent;
    return v;
  }
  static std::error_code error(const R& r) noexcept {
    return r.has_value() ? std::error_code{} : r.error();
  }
  static std::optional<std::uint32_t> windows(const R& r) noexcept {
    return r.has_value() ? std::optional<std::uint32_t>(0u) : windows_code(r.error());
  }
  static retry_result<value_type> value(R&& r) {
    if constexpr (std::is_void_v<value_type>) {
      return outcome::success();
    } else {
      return std::move(r).assume_value();
    }
  }
};

template <class Op>
using op_return_t = std::remove_cvref_t<std::invoke_result_t<Op&>>;

template <class Op>
using retry_value_t = typename op_result<op_return_t<Op>>::value_type;

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
  for (;;) {
    const time_point end = clock.now();
    const next_step step = state.on_call_end(v, end);
    if (step.what == next_step::action::succeed) return traits::value(std::move(r));
    if (step.what == next_step::action::stop) {
      return retry_error{traits::error(r), step.reason, state.calls(), end - start};
    }
    held_admission<Guard> pass(options.guard);  // released unless the call is recorded
    if constexpr (Guard::active) {
      // Refused before sleeping: no point waiting for a call that will not be made.
      if (auto refused = pass.admit(state.calls() + 1)) {
        return retry_error{refused->code ? refused->code : traits::error(r), refused->reason,
                           state.calls(), end - start};
      }
    }
    options.on_retry(state.calls(), traits::error(r), step.delay);
    if (!sleeper.sleep_for(step.delay, options.stop)) {
      return retry_error{traits::error(r), stop_reason::cancelled, state.calls(),
                         clock.now() - start};
    }
    r = std::invoke(op);
    v = traits::classify(policy.classify(), r);
    if constexpr (Guard::active) pass.record(v, traits::windows(r));
  }
}

}  // namespace detail

/// Calls `op` until it succeeds or `policy` says stop, reading time from options.clock and
/// waiting with options.sleeper. Returns the op's value (for code-returning ops: the success
/// or warning code itself, e.g. WARNING_IPSEC_QM_POLICY_PRUNED), or a retry_error.
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
