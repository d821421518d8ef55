// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: the typed-operation engine, the one place that decides what a typed
// Policy Agent operation does next.
//
// An operation_engine holds one caller's retry_state (the loop's rules, docs/policies.md), the
// operation's idempotency rules, its part in a coalesced wait (leader or follower, coalesce.hpp)
// and its guard admission. It makes no call and never waits: its driver does, and tells it
// what happened. It answers in retry_step's terms (retry.hpp): call, sleep D, wait for the
// leader (at most D), done or stop. The blocking typed wrappers (operations.hpp) run it with
// retry()'s one blocking loop (detail::drive), `ipsec-retry simulate --callers` runs it from a
// discrete-event queue in virtual time, and an event loop can run it from timers.
//
//   const no_guard guard;                  // any guard; it must outlive the engine
//   operation_engine<no_guard> e({policy_kind::quick_mode, policy_operation::remove, L"corp-qm"},
//                                builtin_policy(policy_operation::remove), guard, clock.now());
//   for (auto s = e.start(clock.now());;) {
//     if (s.what == retry_step::action::call) s = e.call_ended(call_agent(agent, e.target()),
//                                                               clock.now());
//     else if (s.what == retry_step::action::sleep) { sleep(s.delay); s = e.slept(clock.now()); }
//     else if (s.what == retry_step::action::wait_for_leader) {
//       sleep(s.delay, e.wake_token());   // ends early when the leader releases or hands over
//       s = e.waited(clock.now());
//     } else break;                        // done: e.value(); stop: s.reason, e.error()
//   }
//
// The rules of each operation (policy_operation):
//   remove  idempotent: ambiguous transport failures are retried. NOT_FOUND after the caller
//           has seen PENDING_DELETION (or followed a wait on one) means the deletion completed:
//           done (gone_after_pending).
//   set     idempotent.
//   add     not idempotent: an ambiguous failure (1726, 1820, 1818, 1460) may have created the
//           policy, so it is retried only if operation_options::exists_after_ambiguous_is_done;
//           then a later EXISTS means our earlier call created it: done (exists_after_ambiguous).
// Coalescing (operation_options::waits): before each call a caller that does not lead joins a
// wait in progress on the object instead of calling; a PENDING_DELETION answer that asks for
// another call makes it lead a new wait (or follow the one another caller started meanwhile);
// the leader releases the followers on any other answer, and leaving any other way (stop,
// exception, destruction) hands the wait over. A follower waits in slices on its own backoff
// schedule (in virtual time it wakes when it would have called; in real time the wake token
// ends a slice as soon as it is released or promoted), each clipped to its deadline; at the
// deadline it makes its final call (at_deadline=final_call) or stops with deadline_exceeded.
// A guard's admission is taken before each call (before the sleep that precedes it) and given
// back whenever the call will not be made.
#pragma once

#include <ipsec_retry/backoff.hpp>
#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/detail/saturate.hpp>
#include <ipsec_retry/ipsec/coalesce.hpp>
#include <ipsec_retry/ipsec/operation_types.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string_view>
#include <system_error>
#include <utility>

namespace ipsec_retry::ipsec {

namespace detail {

// The policy with the operation's idempotency applied (a site marked idempotent stays so).
inline retry_policy with_idempotency(const retry_policy& policy, bool idempotent) {
  if (!idempotent || policy.classify().site() == idempotency::idempotent) return policy;
  return policy.with_idempotency(idempotency::idempotent);
}

inline bool idempotent(const operation_target& t, const operation_options& o) noexcept {
  return traits_of(t.object, t.op).idempotent || o.exists_after_ambiguous_is_done;
}

}  // namespace detail

/// The typed-operation engine (see the top of this file). `Guard`: no_guard, budget_guard, ...
/// (guards.hpp); the guard must outlive the engine. Not thread-safe: one per caller. Movable
/// before start(); no allocation unless coalescing (the registry allocates).
template <class Guard = no_guard>
class operation_engine {
 public:
  using result_type = retry_result<operation_result>;
  static constexpr bool can_follow = true;

  /// `policy`: the call site's; the operation's idempotency is applied to a copy. `start`: when
  /// call 1 starts; the deadline is the earlier of start + timeout and `absolute_deadline`.
  /// `seed` overrides the policy's jitter seed.
  operation_engine(const operation_target& target, const retry_policy& policy, const Guard& guard,
                   time_point start, std::optional<time_point> absolute_deadline = std::nullopt,
                   operation_options options = {}, std::optional<std::uint64_t> seed = {})
      : target_(target),
        options_(options),
        policy_(detail::with_idempotency(policy, detail::idempotent(target, options))),
        codes_(codes_for(target.object)),
        state_(seed ? retry_state(policy_, start, absolute_deadline, *seed)
                    : retry_state(policy_, start, absolute_deadline)),
        pass_(guard),
        slices_(policy_.delays(), seed ? *seed : policy_.settings().seed.value_or(0)) {}

  /// The engine keeps a pointer to its guard: a temporary guard would dangle.
  operation_engine(const operation_target&, const retry_policy&, const Guard&&, time_point,
                   std::optional<time_point> = std::nullopt, operation_options = {},
                   std::optional<std::uint64_t> = {}) = delete;
  operation_engine(operation_engine&&) = default;
  operation_engine(const operation_engine&) = delete;
  operation_engine& operator=(const operation_engine&) = delete;
  operation_engine& operator=(operation_engine&&) = delete;
  ~operation_engine() = default;  // a ticket still held hands its wait over

  /// Before call 1, at `now`: call, wait_for_leader (another caller leads a wait on the object)
  /// or stop (the guard refused).
  retry_step start(time_point now) { return before_call(now); }

  /// The agent call made for `call` ended at `end` with `code`: done, stop, sleep or
  /// wait_for_leader.
  retry_step call_ended(win32_error code, time_point end) {
    const std::uint32_t calls = state_.calls() + 1;
    const result<operation_result> judged = judge(code, calls);
    const verdict v = judged ? verdict::success : classify(code);
    pass_.record(v, to_underlying(code));
    last_ = make_error_code(code);
    const bool pending = code == codes_.pending_deletion;
    if (!pending && ticket_.leads()) options_.waits->release(ticket_);  // deletion over: go
    const next_step step = state_.on_call_end(v, end);
    if (step.what == next_step::action::succeed) {
      value_ = judged.value();
      return finish({retry_step::action::done, {}, {}});
    }
    if (step.what == next_step::action::stop) return stop(step.reason);
    if (options_.waits != nullptr && pending && !ticket_.leads()) {
      ticket_ = options_.waits->lead(key());
      if (ticket_.follows()) return follow(end);  // another caller leads: wait with it
    }
    if (auto refused = admit()) return *refused;
    return {retry_step::action::sleep, step.delay, {}};
  }

  /// After a sleep's hook time (retry()'s on_retry): sleep with what is left, or stop.
  retry_step resume(time_point now) {
    const next_step step = state_.resume(now);
    if (step.what == next_step::action::stop) return stop(step.reason);
    return {retry_step::action::sleep, step.delay, {}};
  }

  /// The sleep ended at `now`: call, wait_for_leader or stop (deadline under give_up).
  retry_step slept(time_point now) {
    if (const auto late = state_.before_call(now)) return stop(*late);
    return before_call(now);
  }

  /// A follower's wait slice ended at `now` (its time was up, or its wake token fired): call
  /// (released, or promoted to lead), another wait_for_leader, or at the deadline the final
  /// call (final_call) or stop (give_up).
  retry_step waited(time_point now) {
    if (auto woke = options_.waits->poll(ticket_)) {
      (void)woke;  // released (the ticket is now empty) or promoted (it leads): call now
      // Woken after the deadline: give_up stops; final_call makes this call the last.
      if (const auto late = state_.before_call(now)) return stop(*late);
      return admitted_call();
    }
    if (state_.deadline() && now >= *state_.deadline()) {
      ticket_.reset();  // leaves the wait (hands it over, had it just been promoted)
      if (policy_.settings().on_deadline == at_deadline::give_up) {
        return stop(stop_reason::deadline_exceeded);
      }
      return admitted_call();  // the final call, at the deadline
    }
    return wait_slice(now);
  }

  /// A stop was requested (during a sleep or a wait, or before the first call).
  retry_step cancel(time_point) { return stop(stop_reason::cancelled); }

  /// A follower's wake token: requested when it is released or promoted. Drivers that wait in
  /// real time pass it to the sleeper so the wait ends at once.
  std::stop_token wake_token() const noexcept { return ticket_.wake_token(); }
  /// Whether the current wait was ended by the leader (the wake token fired).
  bool woken() const noexcept { return ticket_.wake_token().stop_requested(); }

  /// Blocking drivers: one wait slice of at most `d`, ended early when this follower is
  /// released or promoted, or when `stop` is requested. A sleeper with a wait_for (virtual_
  /// sleeper: the leader's sleeps move virtual time while followers wait) waits on both tokens;
  /// any other waits on the wake token through sleep_for, `stop` forwarded to it.
  template <class Sleeper>
  void wait_for_leader(Sleeper& sleeper, nanoseconds d, const std::stop_token& stop) {
    if constexpr (requires { sleeper.wait_for(d, stop, stop); }) {
      (void)sleeper.wait_for(d, stop, wake_token());
    } else {
#if defined(__GLIBCXX__) && !defined(_GLIBCXX_HAVE_LINUX_FUTEX)
      // libstdc++ without futexes (MinGW-w64 GCC 12): no stop_callback (clock.hpp,
      // real_sleeper). Slices of at most 2 ms on the wake token, `stop` checked between them.
      for (nanoseconds left = d; left > nanoseconds::zero() && !stop.stop_requested() && !woken();
           left -= std::chrono::milliseconds(2)) {
        (void)sleeper.sleep_for(std::min<nanoseconds>(left, std::chrono::milliseconds(2)),
                                wake_token());
      }
#else
      if (!stop.stop_possible()) {
        (void)sleeper.sleep_for(d, wake_token());
        return;
      }
      std::stop_callback forward(stop, [this] { ticket_.wake(); });
      (void)sleeper.sleep_for(d, wake_token());
#endif
    }
  }

  /// Inspection and results.
  const operation_target& target() const noexcept {
    return target_;
  }
  const retry_policy& policy() const noexcept {
    return policy_;
  }
  std::uint32_t calls() const noexcept {
    return state_.calls();
  }
  std::optional<time_point> deadline() const noexcept {
    return state_.deadline();
  }
  /// The last code: the last call's, PENDING_DELETION while following, or the code a guard's
  /// refusal names; empty before anything happened.
  const std::error_code& error() const noexcept {
    return last_;
  }
  /// Where the driver's seam call stores a handle it receives (call_agent's `received`):
  /// add and open of a filter. On done it is the result's handle.
  agent_handle& received() noexcept {
    return received_;
  }
  /// After done.
  const operation_result& value() const noexcept {
    return value_;
  }
  result_type take_value() const noexcept {
    return value_;
  }
  /// Whether this caller leads / follows a wait now.
  bool leads() const noexcept {
    return ticket_.leads();
  }
  bool follows() const noexcept {
    return ticket_.follows();
  }

 private:
  // The operation's idempotency rules applied to one call's code.
  result<operation_result> judge(win32_error code, std::uint32_t calls) {
    const operation_traits rules = traits_of(target_.object, target_.op);
    const bool remove = target_.op == agent_operation::remove;
    if (remove && code == codes_.not_found && (rules.done_when_gone || options_.absent_is_done)) {
      if (seen_pending_) return operation_result{code, completion::gone_after_pending, calls, {}};
      if (options_.absent_is_done) {
        return operation_result{code, completion::already_absent, calls, {}};
      }
    }
    if (rules.may_exist_after_call && code == codes_.exists && seen_ambiguous_ &&
        options_.exists_after_ambiguous_is_done) {
      return operation_result{code, completion::exists_after_ambiguous, calls, {}};
    }
    seen_pending_ = seen_pending_ || code == codes_.pending_deletion;
    seen_ambiguous_ = seen_ambiguous_ || is_ambiguous_failure(code);
    if (policy_.classify()(code) == verdict::success) {
      return operation_result{code, completion::done, calls, received_};
    }
    return make_error_code(code);
  }

  // A failed call's verdict: the operation's rules for the codes only the caller's situation
  // explains (operation_options, traits_of), then the call site's classifier.
  verdict classify(win32_error code) const {
    const bool filter = is_filter(target_.object);
    if (options_.after_filters_removed && target_.op == agent_operation::remove && !filter &&
        code == codes_.in_use) {
      return verdict::transient;
    }
    if (options_.readd_after_delete && target_.op == agent_operation::add && filter &&
        code == codes_.exists) {
      return verdict::transient;
    }
    if (code == codes_.pending_deletion && traits_of(target_.object, target_.op).pending_is_final) {
      return verdict::permanent;
    }
    return policy_.classify()(code);
  }

  wait_key key() const noexcept {
    const guid& id = is_filter(target_.object) ? target_.filter.id : target_.id;
    return {options_.endpoint, target_.object, target_.name, id};
  }

  // Before a call: a caller that does not lead joins a wait in progress instead of calling.
  retry_step before_call(time_point now) {
    if (options_.waits != nullptr && !ticket_) {
      ticket_ = options_.waits->join(key());
      if (ticket_.follows()) return follow(now);
    }
    if (!pass_.held()) {
      if (auto refused = admit()) return *refused;
    }
    return {retry_step::action::call, {}, {}};
  }
  retry_step admitted_call() {
    if (!pass_.held()) {
      if (auto refused = admit()) return *refused;
    }
    return {retry_step::action::call, {}, {}};
  }
  retry_step follow(time_point now) {
    pass_.release();       // a follower does not call: the admission is given back
    seen_pending_ = true;  // its leader saw the object pending deletion
    last_ = make_error_code(codes_.pending_deletion);
    return wait_slice(now);
  }
  retry_step wait_slice(time_point now) {
    const nanoseconds left = ipsec_retry::detail::time_left(now, state_.deadline());
    return {retry_step::action::wait_for_leader, std::min(slices_.next(), left), {}};
  }
  // The guard's admission of the next call, or the stop its refusal means.
  std::optional<retry_step> admit() {
    if constexpr (Guard::active) {
      if (auto refused = pass_.admit(state_.calls() + 1)) {
        if (refused->code) last_ = refused->code;
        return stop(refused->reason);
      }
    }
    return std::nullopt;
  }
  retry_step stop(stop_reason reason) {
    return finish({retry_step::action::stop, {}, reason});
  }
  retry_step finish(retry_step s) {
    pass_.release();
    ticket_.reset();  // a leader hands its wait over; a follower leaves it
    return s;
  }

  operation_target target_;
  operation_options options_;
  retry_policy policy_;  // the site's, with the operation's idempotency
  object_codes codes_;
  retry_state state_;
  held_admission<Guard> pass_;             // the next call's admission
  backoff_schedule slices_;                // a follower's wait slices
  pending_deletion_waits::ticket ticket_;  // leads or follows a wait; dropping it hands over
  std::error_code last_{};                 // empty until a call ends or the caller follows a wait
  operation_result value_{};
  agent_handle received_{};
  bool seen_pending_ = false;
  bool seen_ambiguous_ = false;
};

}  // namespace ipsec_retry::ipsec
