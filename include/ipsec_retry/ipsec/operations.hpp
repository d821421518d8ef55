// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: typed, retried Policy Agent operations.
//
// Each operation has its own default policy (builtin_policy) and idempotency rules (the
// operation table and the engine, engine.hpp, which decides every step; docs/simulator.md):
// a delete that has seen PENDING_DELETION counts a later NOT_FOUND as done; an add is not
// idempotent unless the call site opts in (operation_options::exists_after_ambiguous_is_done).
//
//   ipsec_retry::ipsec::simulated_agent agent(ipsec_retry::steady_clock_source{});
//   auto r = ipsec_retry::ipsec::delete_qm_policy(agent, L"corp-qm");
//   if (r && r.value().how == ipsec_retry::ipsec::completion::gone_after_pending) { ... }
//
// Every wrapper takes (agent, name[, body], policy, options, operation_options): `options` are
// retry()'s (retry_options.hpp: clock, sleeper, hooks, guard, stop, deadline, site, exception
// translator), deduced as one parameter; operation_options opt in to the add rule and to
// coalesced waits (coalesce.hpp).
#pragma once

#include <ipsec_retry/ipsec/engine.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <exception>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace ipsec_retry::ipsec {

namespace detail {

// One agent call; with an exception translator installed, an exception it maps to a Windows
// code becomes that call's code (any other exception propagates).
template <class Agent, class Options>
win32_error translated_call(Agent& agent, const operation_target& target, const Options& options) {
  if constexpr (std::is_same_v<decltype(Options::translate), no_exception_translator>) {
    return call_agent(agent, target);
  } else {
    try {
      return call_agent(agent, target);
    } catch (...) {
      const std::optional<std::error_code> code = options.translate(std::current_exception());
      const auto windows = code ? ipsec_retry::windows_code(*code) : std::nullopt;
      if (!windows) throw;
      return win32_error{*windows};
    }
  }
}

}  // namespace detail

/// Runs `target` through `agent` under `policy` and `options`: the engine (engine.hpp) decides,
/// retry()'s blocking loop (retry.hpp, detail::drive) calls, sleeps and waits. Any agent with
/// policy_agent's member functions works.
template <class Agent, retry_options_type Options>
retry_result<operation_result> run_operation(Agent& agent, const operation_target& target,
                                             const retry_policy& policy, const Options& options,
                                             const operation_options& operation = {}) {
  namespace core = ipsec_retry::detail;
  auto clock = options.clock;
  const core::reporter<Options> report{&options, clock.now()};
  if (options.stop.stop_requested()) {
    return core::cancelled_before_first_call<operation_result>(report);
  }
  operation_engine<decltype(Options::guard)> engine(target, policy, options.guard, report.start,
                                                    options.deadline, operation);
  return core::drive(
      engine, [&] { return detail::translated_call(agent, engine.target(), options); }, options,
      report, engine.start(report.start), report.start, nanoseconds::zero());
}

/// A typed wrapper: Add/Set (with a body) or Delete of a QM or MM policy, retried.
template <policy_kind Kind, policy_operation Op>
struct policy_operation_fn {
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op == policy_operation::remove) retry_result<operation_result>
  operator()(Agent& agent, std::wstring_view name, const retry_policy& policy = builtin_policy(Op),
             const Options& options = {}, const operation_options& operation = {}) const {
    return run_operation(agent, {Kind, Op, name, {}}, policy, options, operation);
  }
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op != policy_operation::remove) retry_result<operation_result>
  operator()(Agent& agent, std::wstring_view name, native_policy body,
             const retry_policy& policy = builtin_policy(Op), const Options& options = {},
             const operation_options& operation = {}) const {
    return run_operation(agent, {Kind, Op, name, body}, policy, options, operation);
  }
};

template <policy_operation Op>
using qm_policy_fn = policy_operation_fn<policy_kind::quick_mode, Op>;
template <policy_operation Op>
using mm_policy_fn = policy_operation_fn<policy_kind::main_mode, Op>;

// The six wrappers, named after winipsec.dll's exports.
inline constexpr qm_policy_fn<policy_operation::add> add_qm_policy{};
inline constexpr qm_policy_fn<policy_operation::set> set_qm_policy{};
inline constexpr qm_policy_fn<policy_operation::remove> delete_qm_policy{};
inline constexpr mm_policy_fn<policy_operation::add> add_mm_policy{};
inline constexpr mm_policy_fn<policy_operation::set> set_mm_policy{};
inline constexpr mm_policy_fn<policy_operation::remove> delete_mm_policy{};

}  // namespace ipsec_retry::ipsec
