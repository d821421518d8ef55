// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: typed, retried Policy Agent operations.
//
// Each operation has its own default policy (see builtin_policy) and idempotency rule:
//   delete  idempotent: ambiguous transport failures are retried. NOT_FOUND after the loop has
//           seen PENDING_DELETION means the deletion completed: done (gone_after_pending).
//   set     idempotent: ambiguous transport failures are retried.
//   add     not idempotent: an ambiguous failure (RPC_S_CALL_FAILED 1726, RPC_S_COMM_FAILURE
//           1820, RPC_S_CALL_CANCELLED 1818, ERROR_TIMEOUT 1460) may have created the policy, so
//           it is not retried unless the call site opts in with add_rules; then a later EXISTS
//           means our earlier call created it: done (exists_after_ambiguous).
// Outside those two cases NOT_FOUND and EXISTS are failures.
//
//   ipsec_retry::ipsec::simulated_agent agent(ipsec_retry::steady_clock_source{});
//   auto r = ipsec_retry::ipsec::delete_qm_policy(agent, L"corp-qm");
//   if (r && r.value().how == ipsec_retry::ipsec::completion::gone_after_pending) { ... }
#pragma once

#include <ipsec_retry/ipsec/coalesce.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

namespace ipsec_retry::ipsec {

/// The operations with call sites of their own.
enum class policy_operation : std::uint8_t { add, set, remove };

/// How a typed operation reached success.
enum class completion : std::uint8_t {
  done,                    ///< the agent returned success (or a warning such as *_PRUNED)
  gone_after_pending,      ///< delete: NOT_FOUND after PENDING_DELETION: the deletion completed
  exists_after_ambiguous,  ///< add (opt-in): EXISTS after an ambiguous failure: we had added it
};

constexpr std::string_view to_string(completion c) noexcept {
  switch (c) {
    case completion::done:
      return "done";
    case completion::gone_after_pending:
      return "gone_after_pending";
    case completion::exists_after_ambiguous:
      return "exists_after_ambiguous";
  }
  return "done";
}

/// The value of a successful typed operation.
struct operation_result {
  win32_error code;     ///< the agent's last code (0, a warning, or the NOT_FOUND/EXISTS that
                        ///< counted as done)
  completion how;       ///< which rule made it a success
  std::uint32_t calls;  ///< agent calls made
  friend bool operator==(const operation_result&, const operation_result&) = default;
};

/// Per-call-site opt-ins for add.
struct add_rules {
  /// Retry ambiguous transport failures, and count a later *_EXISTS as done.
  bool exists_after_ambiguous_is_done = false;
};

/// The library's default policy for an operation (docs/simulator.md). Delete waits longest: a
/// pending deletion lasts until the SAs using the policy are gone.
///   delete  "timeout=60s, initial=50ms, max_delay=2s"   (exponential x2, 20% jitter)
///   set/add "timeout=30s, initial=20ms, max_delay=1s"
const retry_policy& builtin_policy(policy_operation op) noexcept;

namespace detail {

constexpr bool is_ambiguous_failure(win32_error code) noexcept {
  switch (to_underlying(code)) {
    case 1726:  // RPC_S_CALL_FAILED
    case 1820:  // RPC_S_COMM_FAILURE
    case 1818:  // RPC_S_CALL_CANCELLED
    case 1460:  // ERROR_TIMEOUT
      return true;
    default:
      return false;
  }
}

// The policy with the operation's idempotency rule applied (a site marked idempotent stays so).
inline retry_policy with_idempotency(const retry_policy& policy, bool idempotent) {
  if (!idempotent || policy.classify().site() == idempotency::idempotent) return policy;
  retry_settings settings = policy.settings();
  settings.classify.set_idempotency(idempotency::idempotent);
  return retry_policy::make(settings).value();  // only the idempotency changed: still valid
}

}  // namespace detail

namespace detail {

// The operation's idempotency rules applied to one agent call's code: the typed result of the
// call. Shared by the plain and the coalesced loops (and by `ipsec-retry simulate --callers`).
class operation_judge {
 public:
  operation_judge(policy_operation op, policy_kind kind, add_rules rules,
                  const retry_policy& effective) noexcept
      : op_(op), codes_(codes_for(kind)), rules_(rules), effective_(&effective) {}

  result<operation_result> operator()(win32_error code, std::uint32_t calls) {
    if (op_ == policy_operation::remove && code == codes_.not_found && seen_pending_) {
      return operation_result{code, completion::gone_after_pending, calls};
    }
    if (op_ == policy_operation::add && code == codes_.exists && seen_ambiguous_ &&
        rules_.exists_after_ambiguous_is_done) {
      return operation_result{code, completion::exists_after_ambiguous, calls};
    }
    seen_pending_ = seen_pending_ || code == codes_.pending_deletion;
    seen_ambiguous_ = seen_ambiguous_ || is_ambiguous_failure(code);
    if (effective_->classify()(code) == verdict::success) {
      return operation_result{code, completion::done, calls};
    }
    return make_error_code(code);
  }
  /// A coalesced follower knows the object was pending deletion (its leader saw it).
  void saw_pending() noexcept { seen_pending_ = true; }
  const policy_codes& codes() const noexcept { return codes_; }

 private:
  policy_operation op_;
  policy_codes codes_;
  add_rules rules_;
  const retry_policy* effective_;
  bool seen_pending_ = false;
  bool seen_ambiguous_ = false;
};

template <class Agent>
win32_error call_agent(Agent& agent, policy_operation op, policy_kind kind, std::wstring_view name,
                       native_policy body) {
  switch (op) {
    case policy_operation::add:
      return agent.add_policy(kind, name, body);
    case policy_operation::set:
      return agent.set_policy(kind, name, body);
    case policy_operation::remove:
      return agent.delete_policy(kind, name);
  }
  return win32_error{};
}

// now .. deadline, saturating; nanoseconds::max() without a deadline.
inline std::chrono::nanoseconds time_left(time_point now, std::optional<time_point> deadline) {
  if (!deadline) return std::chrono::nanoseconds::max();
  if (*deadline <= now) return std::chrono::nanoseconds::zero();
  const auto a = now.time_since_epoch().count();
  const auto b = deadline->time_since_epoch().count();
  if (a < 0 && b > std::numeric_limits<std::int64_t>::max() + a) {
    return std::chrono::nanoseconds::max();
  }
  return std::chrono::nanoseconds{b - a};
}

// The retry loop of a typed operation with coalesced waits (coalesce.hpp). Same rules as
// retry() (docs/policies.md, the deadline rule) for the calls this caller makes; in addition:
//   * before each call, a caller that does not lead joins a wait in progress on the object
//     instead of calling, and waits (bounded by its deadline and stop token) until released
//     (then it calls at once) or promoted (then it calls at once and leads);
//   * a PENDING_DELETION answer that asks for another call makes the caller lead a new wait
//     (or follow the one another caller started meanwhile);
//   * the leader releases the followers on any other answer; leaving the loop any other way
//     (stop, exception) hands the wait over;
//   * the clock is read again after the on_retry hook and before each call, as in retry():
//     a hook's time never carries a call past the deadline;
//   * a guard's admission that will not be recorded (the caller follows a wait instead of
//     calling, a stop, a refusal, an exception) is released (guards.hpp: held_admission).
// A follower whose deadline comes while waiting makes its final call there (at_deadline=
// final_call) or stops with deadline_exceeded (give_up); its last code is PENDING_DELETION.
// A follower's wait is a real (condition variable) wait: its length is the time left to the
// deadline as read from options.clock, waited on steady_clock. With a virtual clock, only the
// leader's sleeps are virtual; followers are woken by the leader, not by virtual time.
template <class Agent, class Options>
retry_result<operation_result> run_coalesced(Agent& agent, policy_operation op, policy_kind kind,
                                             std::wstring_view name, native_policy body,
                                             const retry_policy& effective, const Options& options,
                                             add_rules rules, coalescing co) {
  using Guard = decltype(Options::guard);
  auto clock = options.clock;
  auto sleeper = options.sleeper;
  const time_point start = clock.now();
  operation_judge judge(op, kind, rules, effective);
  const policy_codes codes = judge.codes();
  const auto fail = [&](std::error_code code, stop_reason reason, std::uint32_t calls,
                        time_point at) {
    return retry_error{code, reason, calls, at - start};
  };
  if (options.stop.stop_requested()) {
    return fail(make_error_code(win32_error::cancelled), stop_reason::cancelled, 0, start);
  }
  pending_deletion_waits& waits = *co.waits;
  const wait_key key{co.endpoint, kind, name};
  retry_state state(effective, start, options.deadline);
  pending_deletion_waits::ticket ticket;  // leads or follows a wait; dropping it hands over
  std::error_code last = make_error_code(codes.pending_deletion);
  held_admission<Guard> pass(options.guard);  // the guard let the next call through
  for (;;) {
    // 1. Not leading: join a wait in progress instead of calling.
    if (!ticket) ticket = waits.join(key);
    if (ticket.follows()) {
      pass.release();  // a follower does not call: the admission is given back
      judge.saw_pending();
      last = make_error_code(codes.pending_deletion);
      const auto woke = waits.wait(ticket, time_left(clock.now(), state.deadline()), options.stop);
      if (woke == pending_deletion_waits::wake::cancelled) {
        return fail(last, stop_reason::cancelled, state.calls(), clock.now());
      }
      if (woke == pending_deletion_waits::wake::timed_out) {
        ticket.reset();
        if (effective.settings().on_deadline == at_deadline::give_up) {
          return fail(last, stop_reason::deadline_exceeded, state.calls(), clock.now());
        }
      }
    }
    // 2. Call the agent.
    if constexpr (Guard::active) {
      if (!pass.held()) {
        if (auto refused = pass.admit(state.calls() + 1)) {
          return fail(refused->code ? refused->code : last, refused->reason, state.calls(),
                      clock.now());
        }
      }
    }
    const win32_error code = call_agent(agent, op, kind, name, body);
    auto r = judge(code, state.calls() + 1);
    const verdict v = r ? verdict::success : effective.classify()(code);
    if constexpr (Guard::active) pass.record(v, to_underlying(code));
    last = make_error_code(code);
    const time_point end = clock.now();
    const bool pending = code == codes.pending_deletion;
    if (!pending && ticket.leads()) waits.release(ticket);  // the deletion is over: go
    next_step step = state.on_call_end(v, end);
    if (step.what == next_step::action::succeed) return std::move(r).value();
    if (step.what == next_step::action::stop) return fail(last, step.reason, state.calls(), end);
    // 3. Another call is due: lead (or follow) the wait on a pending deletion.
    if (pending && !ticket.leads()) {
      ticket = waits.lead(key);
      if (ticket.follows()) continue;  // another caller leads: wait instead of sleeping
    }
    if constexpr (Guard::active) {
      if (auto refused = pass.admit(state.calls() + 1)) {
        return fail(refused->code ? refused->code : last, refused->reason, state.calls(), end);
      }
    }
    if constexpr (ipsec_retry::detail::has_hook<Options>) {
      options.on_retry(state.calls(), last, step.delay);
      const time_point after_hook = clock.now();  // the hook's time counts against the deadline
      step = state.resume(after_hook);
      if (step.what == next_step::action::stop) {
        return fail(last, step.reason, state.calls(), after_hook);
      }
    }
    if (!sleeper.sleep_for(step.delay, options.stop)) {
      return fail(last, stop_reason::cancelled, state.calls(), clock.now());
    }
    const time_point call_start = clock.now();  // read again: no call after the deadline
    if (const auto late = state.before_call(call_start)) {
      return fail(last, *late, state.calls(), call_start);
    }
  }
}

}  // namespace detail

/// Runs `op` on policy `name` of `kind` through `agent` with `policy`'s limits and the
/// operation's idempotency rule. Any agent with policy_agent's member functions works.
/// `co` opts in to coalesced waits on a pending deletion (coalesce.hpp); off by default.
template <class Agent, retry_options_type Options>
retry_result<operation_result> run_policy_operation(Agent& agent, policy_operation op,
                                                    policy_kind kind, std::wstring_view name,
                                                    native_policy body, const retry_policy& policy,
                                                    const Options& options, add_rules rules = {},
                                                    coalescing co = {}) {
  const bool idempotent = op != policy_operation::add || rules.exists_after_ambiguous_is_done;
  const retry_policy effective = detail::with_idempotency(policy, idempotent);
  if (co.waits != nullptr) {
    return detail::run_coalesced(agent, op, kind, name, body, effective, options, rules, co);
  }
  detail::operation_judge judge(op, kind, rules, effective);
  std::uint32_t calls = 0;
  auto call = [&]() -> result<operation_result> {
    ++calls;
    return judge(detail::call_agent(agent, op, kind, name, body), calls);
  };
  return retry(effective, call, options);
}

/// DeleteQMPolicy, retried. See the rules at the top.
template <class Agent, retry_options_type Options = retry_options<>>
retry_result<operation_result> delete_qm_policy(
    Agent& agent, std::wstring_view name,
    const retry_policy& policy = builtin_policy(policy_operation::remove),
    const Options& options = {}, coalescing co = {}) {
  return run_policy_operation(agent, policy_operation::remove, policy_kind::quick_mode, name, {},
                              policy, options, {}, co);
}

/// SetQMPolicy, retried.
template <class Agent, retry_options_type Options = retry_options<>>
retry_result<operation_result> set_qm_policy(
    Agent& agent, std::wstring_view name, native_policy body,
    const retry_policy& policy = builtin_policy(policy_operation::set), const Options& options = {},
    coalescing co = {}) {
  return run_policy_operation(agent, policy_operation::set, policy_kind::quick_mode, name, body,
                              policy, options, {}, co);
}

/// AddQMPolicy, retried; `rules` opts in to retrying ambiguous failures.
template <class Agent, retry_options_type Options = retry_options<>>
retry_result<operation_result> add_qm_policy(
    Agent& agent, std::wstring_view name, native_policy body,
    const retry_policy& policy = builtin_policy(policy_operation::add), const Options& options = {},
    add_rules rules = {}, coalescing co = {}) {
  return run_policy_operation(agent, policy_operation::add, policy_kind::quick_mode, name, body,
                              policy, options, rules, co);
}

/// DeleteMMPolicy, retried.
template <class Agent, retry_options_type Options = retry_options<>>
retry_result<operation_result> delete_mm_policy(
    Agent& agent, std::wstring_view name,
    const retry_policy& policy = builtin_policy(policy_operation::remove),
    const Options& options = {}, coalescing co = {}) {
  return run_policy_operation(agent, policy_operation::remove, policy_kind::main_mode, name, {},
                              policy, options, {}, co);
}

/// SetMMPolicy, retried.
template <class Agent, retry_options_type Options = retry_options<>>
retry_result<operation_result> set_mm_policy(
    Agent& agent, std::wstring_view name, native_policy body,
    const retry_policy& policy = builtin_policy(policy_operation::set), const Options& options = {},
    coalescing co = {}) {
  return run_policy_operation(agent, policy_operation::set, policy_kind::main_mode, name, body,
                              policy, options, {}, co);
}

/// AddMMPolicy, retried; `rules` opts in to retrying ambiguous failures.
template <class Agent, retry_options_type Options = retry_options<>>
retry_result<operation_result> add_mm_policy(
    Agent& agent, std::wstring_view name, native_policy body,
    const retry_policy& policy = builtin_policy(policy_operation::add), const Options& options = {},
    add_rules rules = {}, coalescing co = {}) {
  return run_policy_operation(agent, policy_operation::add, policy_kind::main_mode, name, body,
                              policy, options, rules, co);
}

}  // namespace ipsec_retry::ipsec
