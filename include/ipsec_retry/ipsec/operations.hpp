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

#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <cstdint>
#include <string_view>

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
  win32_error code;      ///< the agent's last code (0, a warning, or the NOT_FOUND/EXISTS that
                         ///< counted as done)
  completion how;        ///< which rule made it a success
  std::uint32_t calls;   ///< agent calls made
  friend bool operator==(const operation_result&, const operation_result&) = default;
};

/// Per-call-site opt-ins for add.
struct add_rules {
  /// Retry ambiguous transport failures, and count a later *_EXISTS as done.
  bool exists_after_ambiguous_is_done = false;
};

/// The library's default policy for an operation (DESIGN section 5). Delete waits longest: a
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

/// Runs `op` on policy `name` of `kind` through `agent` with `policy`'s limits and the
/// operation's idempotency rule. Any agent with policy_agent's member functions works.
template <class Agent, clock_source Clock, sleeper Sleeper, class OnRetry, class Guard>
retry_result<operation_result> run_policy_operation(
    Agent& agent, policy_operation op, policy_kind kind, std::wstring_view name,
    native_policy body, const retry_policy& policy,
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options, add_rules rules = {}) {
  const bool idempotent = op != policy_operation::add || rules.exists_after_ambiguous_is_done;
  const retry_policy effective = detail::with_idempotency(policy, idempotent);
  const policy_codes codes = codes_for(kind);
  bool seen_pending = false;
  bool seen_ambiguous = false;
  std::uint32_t calls = 0;
  auto call = [&]() -> result<operation_result> {
    ++calls;
    win32_error code{};
    switch (op) {
      case policy_operation::add:
        code = agent.add_policy(kind, name, body);
        break;
      case policy_operation::set:
        code = agent.set_policy(kind, name, body);
        break;
      case policy_operation::remove:
        code = agent.delete_policy(kind, name);
        break;
    }
    if (op == policy_operation::remove && code == codes.not_found && seen_pending) {
      return operation_result{code, completion::gone_after_pending, calls};
    }
    if (op == policy_operation::add && code == codes.exists && seen_ambiguous &&
        rules.exists_after_ambiguous_is_done) {
      return operation_result{code, completion::exists_after_ambiguous, calls};
    }
    seen_pending = seen_pending || code == codes.pending_deletion;
    seen_ambiguous = seen_ambiguous || detail::is_ambiguous_failure(code);
    if (effective.classify()(code) == verdict::success) {
      return operation_result{code, completion::done, calls};
    }
    return make_error_code(code);
  };
  return retry(effective, call, options);
}

/// DeleteQMPolicy, retried. See the rules at the top.
template <class Agent, clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard>
retry_result<operation_result> delete_qm_policy(
    Agent& agent, std::wstring_view name,
    const retry_policy& policy = builtin_policy(policy_operation::remove),
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options = {}) {
  return run_policy_operation(agent, policy_operation::remove, policy_kind::quick_mode, name, {},
                              policy, options);
}

/// SetQMPolicy, retried.
template <class Agent, clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard>
retry_result<operation_result> set_qm_policy(
    Agent& agent, std::wstring_view name, native_policy body,
    const retry_policy& policy = builtin_policy(policy_operation::set),
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options = {}) {
  return run_policy_operation(agent, policy_operation::set, policy_kind::quick_mode, name, body,
                              policy, options);
}

/// AddQMPolicy, retried; `rules` opts in to retrying ambiguous failures.
template <class Agent, clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard>
retry_result<operation_result> add_qm_policy(
    Agent& agent, std::wstring_view name, native_policy body,
    const retry_policy& policy = builtin_policy(policy_operation::add),
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options = {}, add_rules rules = {}) {
  return run_policy_operation(agent, policy_operation::add, policy_kind::quick_mode, name, body,
                              policy, options, rules);
}

/// DeleteMMPolicy, retried.
template <class Agent, clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard>
retry_result<operation_result> delete_mm_policy(
    Agent& agent, std::wstring_view name,
    const retry_policy& policy = builtin_policy(policy_operation::remove),
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options = {}) {
  return run_policy_operation(agent, policy_operation::remove, policy_kind::main_mode, name, {},
                              policy, options);
}

/// SetMMPolicy, retried.
template <class Agent, clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard>
retry_result<operation_result> set_mm_policy(
    Agent& agent, std::wstring_view name, native_policy body,
    const retry_policy& policy = builtin_policy(policy_operation::set),
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options = {}) {
  return run_policy_operation(agent, policy_operation::set, policy_kind::main_mode, name, body,
                              policy, options);
}

/// AddMMPolicy, retried; `rules` opts in to retrying ambiguous failures.
template <class Agent, clock_source Clock = steady_clock_source, sleeper Sleeper = real_sleeper,
          class OnRetry = no_retry_hook, class Guard = no_guard>
retry_result<operation_result> add_mm_policy(
    Agent& agent, std::wstring_view name, native_policy body,
    const retry_policy& policy = builtin_policy(policy_operation::add),
    const retry_options<Clock, Sleeper, OnRetry, Guard>& options = {}, add_rules rules = {}) {
  return run_policy_operation(agent, policy_operation::add, policy_kind::main_mode, name, body,
                              policy, options, rules);
}

}  // namespace ipsec_retry::ipsec
