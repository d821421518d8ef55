// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: how retry() reads time, waits, reports, stops and translates exceptions.
//
//   ipsec_retry::options()                                  real time, no hooks
//   ipsec_retry::options().with_time(vt)                    virtual time: vt's clock + sleeper
//   ipsec_retry::options().with_site("qm.delete").with_on_event(log_event)
//   ipsec_retry::options().with_stop(source.get_token()).with_deadline(t)
//   ipsec_retry::options().with_exceptions(ipsec_retry::system_error_translator{})
//
// The builders compile on every supported compiler (g++ 12, clang 14, MSVC, MinGW-w64): none
// needs class template argument deduction. retry_options is also an aggregate; designated
// initializers must follow the field order: clock, sleeper, on_retry, stop, deadline, guard,
// on_event, site, translate.
#pragma once

#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/detail/guard_contract.hpp>
#include <ipsec_retry/retry_error.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <stop_token>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace ipsec_retry {

/// One thing the loop did, for logs and metrics. Passed by reference; valid during the call.
struct retry_event {
  enum class kind : std::uint8_t {
    retrying,   ///< call `call` failed transiently; the loop sleeps `next_delay`, then calls again
    succeeded,  ///< call `call` succeeded (code: 0 or the warning / success code it returned)
    gave_up,    ///< the loop stopped without success: `reason`; code: the last call's code
  };
  kind what;
  std::string_view site;                  ///< the call site's name ("" when the options set none)
  std::uint32_t call;                     ///< the call the event is about, from 1 (0: none made)
  std::error_code code;                   ///< that call's code (for gave_up: the reported code)
  std::chrono::nanoseconds attempt;       ///< how long that call took (0 when none was made)
  std::chrono::nanoseconds elapsed;       ///< start of call 1 until now
  std::chrono::nanoseconds next_delay{};  ///< retrying: the sleep before the next call
  stop_reason reason{};                   ///< gave_up: why
};

/// The default on_retry hook: does nothing (and costs no clock read).
struct no_retry_hook {
  void operator()(std::uint32_t, const std::error_code&, std::chrono::nanoseconds) const noexcept {}
};
/// The default on_event hook: does nothing; with it the loop reads no extra time.
struct no_event_hook {
  void operator()(const retry_event&) const noexcept {}
};

/// The default: an exception from the op propagates unchanged and nothing is retried on it.
struct no_exception_translator {
  std::optional<std::error_code> operator()(std::exception_ptr) const noexcept {
    return std::nullopt;
  }
};

/// The translator of std::system_error (and std::filesystem_error, std::ios_base::failure):
/// the exception's code(), classified like any std::error_code result (a win32_category code,
/// or on Windows a system_category code, is a Windows code; any other category is permanent).
/// Anything else propagates. Write your own for other types (WIL, C++/WinRT), e.g.
///   [](std::exception_ptr e) -> std::optional<std::error_code> {
///     try { std::rethrow_exception(e); }
///     catch (const wil::ResultException& x) { return make_error_code(hresult(x.GetErrorCode())); }
///     catch (...) { return translate_system_error(e); }
///   }
std::optional<std::error_code> translate_system_error(std::exception_ptr e) noexcept;
struct system_error_translator {
  std::optional<std::error_code> operator()(std::exception_ptr e) const noexcept {
    return translate_system_error(std::move(e));
  }
};

/// How retry() reads time, waits, reports, stops and translates exceptions (see the top).
/// on_retry(call, code, next_delay) runs after call `call` failed transiently, before the sleep
/// of `next_delay`; on_event(const retry_event&) runs then too, and when the loop succeeds or
/// gives up. `guard` (guards.hpp: a retry_budget, a circuit_breaker, both) is asked before
/// every call and told every verdict. `site` names the call site in events and errors; it must
/// outlive the result (a literal, or a name owned by a call_site_registry). `translate` maps an
/// exception thrown by the op to a code (nullopt: rethrow it). A virtual clock with the real
/// sleeper, or the reverse, does not compile (clock.hpp).
template <clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard, class OnEvent = no_event_hook,
          class Translate = no_exception_translator>
struct retry_options {
  static_assert(same_time_domain<Clock, Sleeper>,
                "ipsec_retry::retry_options: the clock and the sleeper are of different time "
                "domains (a virtual clock with the real sleeper spins through real time while "
                "the clock stands still, and the reverse never sleeps); pass both from one "
                "source: options().with_time(vt)");

  using options_tag = void;  // what the retry_options_type concept looks for

  Clock clock{};
  Sleeper sleeper{};
  OnRetry on_retry{};
  std::stop_token stop{};
  std::optional<time_point> deadline{};  ///< absolute; the earlier of it and start + timeout wins
  Guard guard{};
  OnEvent on_event{};
  std::string_view site{};
  Translate translate{};

  /// The same options reading `time.clock()` and sleeping with `time.sleeper()` (virtual_time,
  /// or any type with both): clock and sleeper always come as a matched pair.
  template <class Time>
  requires requires(Time& t) {
    { t.clock() } -> clock_source;
    { t.sleeper() } -> ipsec_retry::sleeper;
  }
  auto with_time(Time& time) const {
    return rebuild<decltype(time.clock()), decltype(time.sleeper()), OnRetry, Guard, OnEvent,
                   Translate>(time.clock(), time.sleeper(), on_retry, guard, on_event, translate);
  }
  /// A clock and a sleeper of your own (they must be of the same time domain).
  template <clock_source C, ipsec_retry::sleeper S>
  auto with_clock_and_sleeper(C c, S s) const {
    return rebuild<C, S, OnRetry, Guard, OnEvent, Translate>(std::move(c), std::move(s), on_retry,
                                                             guard, on_event, translate);
  }
  template <class Hook>
  auto with_on_retry(Hook hook) const {
    return rebuild<Clock, Sleeper, Hook, Guard, OnEvent, Translate>(clock, sleeper, std::move(hook),
                                                                    guard, on_event, translate);
  }
  template <class G>
  auto with_guard(G g) const {
    return rebuild<Clock, Sleeper, OnRetry, G, OnEvent, Translate>(
        clock, sleeper, on_retry, std::move(g), on_event, translate);
  }
  template <class Hook>
  auto with_on_event(Hook hook) const {
    return rebuild<Clock, Sleeper, OnRetry, Guard, Hook, Translate>(clock, sleeper, on_retry, guard,
                                                                    std::move(hook), translate);
  }
  template <class T>
  auto with_exceptions(T translator) const {
    return rebuild<Clock, Sleeper, OnRetry, Guard, OnEvent, T>(clock, sleeper, on_retry, guard,
                                                               on_event, std::move(translator));
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
  retry_options with_site(std::string_view name) const {
    retry_options copy = *this;
    copy.site = name;
    return copy;
  }

 private:
  template <class C, class S, class H, class G, class E, class T>
  retry_options<C, S, H, G, E, T> rebuild(C c, S s, H h, G g, E e, T t) const {
    return {std::move(c), std::move(s), std::move(h), stop,        deadline,
            std::move(g), std::move(e), site,         std::move(t)};
  }
};

/// Any retry_options<...>: what the typed operations take as their one Options parameter.
template <class T>
concept retry_options_type = requires {
  typename T::options_tag;
};

/// Real time, no hooks, no stop token, no guard: the start of every builder chain.
inline retry_options<> options() noexcept {
  return {};
}

}  // namespace ipsec_retry
