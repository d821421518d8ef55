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
#include <ipsec_retry/ipsec/filter_handle.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <exception>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace ipsec_retry::ipsec {

namespace detail {

// One agent call; with an exception translator installed, an exception it maps to a Windows
// code becomes that call's code (any other exception propagates).
template <class Agent, class Options>
win32_error translated_call(Agent& agent, const operation_target& target, agent_handle& received,
                            const Options& options) {
  if constexpr (std::is_same_v<decltype(Options::translate), no_exception_translator>) {
    return call_agent(agent, target, received);
  } else {
    try {
      return call_agent(agent, target, received);
    } catch (...) {
      const std::optional<std::error_code> code = options.translate(std::current_exception());
      const auto windows = code ? ipsec_retry::windows_code(*code) : std::nullopt;
      if (!windows) throw;
      return win32_error{*windows};
    }
  }
}

// The engine's run after a first call, made by run_operation's fast path, that did not return
// ERROR_SUCCESS: the engine is built as if it had made that call and judges its `code`. Out of
// line so that the fast path stays small.
template <class Call, class Options>
IPSEC_RETRY_NOINLINE retry_result<operation_result> after_first_call(
    const Call& call, const operation_target& target, const retry_policy& policy,
    const Options& options, const operation_options& operation,
    const ipsec_retry::detail::reporter<Options>& report, win32_error code, agent_handle received) {
  operation_engine<decltype(Options::guard)> engine(target, policy, options.guard, report.start,
                                                    options.deadline, operation);
  engine.received() = received;
  auto clock = options.clock;
  const time_point end = clock.now();
  return ipsec_retry::detail::drive(
      engine, [&] { return call(engine); }, options, report, engine.call_ended(code, end), end,
      end - report.start);
}

}  // namespace detail

/// Runs `target` through `agent` under `policy` and `options`: the engine (engine.hpp) decides,
/// retry()'s blocking loop (retry.hpp, detail::drive) calls, sleeps and waits. Any agent with
/// policy_agent's member functions works. Fast path: without a guard or coalescing, a first
/// call that returns ERROR_SUCCESS costs the agent call plus one clock read (bench/typed_bench).
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
  using Guard = decltype(Options::guard);
  const auto call = [&](operation_engine<Guard>& engine) {
    return detail::translated_call(agent, engine.target(), engine.received(), options);
  };
  if constexpr (!Guard::active) {
    // The fast path: with no guard to admit call 1 and no coalesced wait to join, call 1 is
    // made before the engine exists. ERROR_SUCCESS is done at every site and for every
    // operation (no rule of the engine's and no classifier list applies to it), so a first call
    // that returns it costs the call and one clock read; anything else is handed to the engine
    // as call 1's answer.
    if (operation.waits == nullptr) [[likely]] {
      agent_handle received{};
      const win32_error code = detail::translated_call(agent, target, received, options);
      if (code == win32_error::success) [[likely]] {
        if constexpr (core::has_event_hook<Options>) {
          const time_point end = clock.now();
          report.event(retry_event::kind::succeeded, 1, make_error_code(code), end - report.start,
                       end);
        }
        return operation_result{code, completion::done, 1, received};
      }
      return detail::after_first_call(call, target, policy, options, operation, report, code,
                                      received);
    }
  }
  operation_engine<Guard> engine(target, policy, options.guard, report.start, options.deadline,
                                 operation);
  return core::drive(
      engine, [&] { return call(engine); }, options, report, engine.start(report.start),
      report.start, nanoseconds::zero());
}

/// A typed wrapper: Add/Set (with a body) or Delete of a QM or MM policy, retried.
template <policy_kind Kind, policy_operation Op>
struct policy_operation_fn {
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op == policy_operation::remove) retry_result<operation_result>
  operator()(Agent& agent, std::wstring_view name,
             const retry_policy& policy = builtin_policy(to_object_kind(Kind), Op),
             const Options& options = {}, const operation_options& operation = {}) const {
    return run_operation(agent, {Kind, Op, name, {}}, policy, options, operation);
  }
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op != policy_operation::remove) retry_result<operation_result>
  operator()(Agent& agent, std::wstring_view name, native_policy body,
             const retry_policy& policy = builtin_policy(to_object_kind(Kind), Op),
             const Options& options = {}, const operation_options& operation = {}) const {
    return run_operation(agent, {Kind, Op, name, body}, policy, options, operation);
  }
};

template <policy_operation Op>
using qm_policy_fn = policy_operation_fn<policy_kind::quick_mode, Op>;
template <policy_operation Op>
using mm_policy_fn = policy_operation_fn<policy_kind::main_mode, Op>;

/// A typed wrapper for MM auth methods, keyed by GUID: Add/Set (with the SDK structure) or
/// Delete, retried.
template <agent_operation Op>
struct auth_methods_fn {
  static constexpr object_kind object = object_kind::mm_auth_methods;
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op == agent_operation::remove) retry_result<operation_result>
  operator()(Agent& agent, const guid& id, const retry_policy& policy = builtin_policy(object, Op),
             const Options& options = {}, const operation_options& operation = {}) const {
    return run_operation(agent, operation_target::for_auth_methods(Op, id), policy, options,
                         operation);
  }
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op != agent_operation::remove) retry_result<operation_result>
  operator()(Agent& agent, const guid& id, native_auth_methods methods,
             const retry_policy& policy = builtin_policy(object, Op), const Options& options = {},
             const operation_options& operation = {}) const {
    return run_operation(agent, operation_target::for_auth_methods(Op, id, methods), policy,
                         options, operation);
  }
};

/// What a filter's add or open gives: the handle (yours; it closes itself) and the result.
struct opened_filter {
  filter_handle handle;
  operation_result result;
};

/// A typed wrapper for one kind of filter. Add and open take the filter (its SDK structure,
/// id and references) and give an opened_filter; set, delete and close go through a
/// filter_handle of yours. A delete that succeeds consumes the handle (it becomes empty), as
/// does a close whatever its code.
template <filter_kind Kind, agent_operation Op>
struct filter_operation_fn {
  static constexpr object_kind object = to_object_kind(Kind);
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op == agent_operation::add || Op == agent_operation::open) retry_result<opened_filter>
  operator()(Agent& agent, native_filter filter,
             const retry_policy& policy = builtin_policy(object, Op), const Options& options = {},
             const operation_options& operation = {}) const {
    filter.kind = Kind;
    auto r =
        run_operation(agent, operation_target::for_filter(Op, filter), policy, options, operation);
    if (!r) return std::move(r).error();
    return opened_filter{filter_handle(agent, Kind, r.value().handle), r.value()};
  }
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op == agent_operation::set) retry_result<operation_result>
  operator()(Agent& agent, const filter_handle& handle, native_filter filter,
             const retry_policy& policy = builtin_policy(object, Op), const Options& options = {},
             const operation_options& operation = {}) const {
    filter.kind = Kind;
    return run_operation(agent, operation_target::for_filter(Op, filter, handle.get()), policy,
                         options, operation);
  }
  template <class Agent, retry_options_type Options = retry_options<>>
  requires(Op == agent_operation::remove ||
           Op == agent_operation::close) retry_result<operation_result>
  operator()(Agent& agent, filter_handle& handle,
             const retry_policy& policy = builtin_policy(object, Op), const Options& options = {},
             const operation_options& operation = {}) const {
    native_filter filter;
    filter.kind = Kind;
    auto r = run_operation(agent, operation_target::for_filter(Op, filter, handle.get()), policy,
                           options, operation);
    if (r || Op == agent_operation::close) (void)handle.release();  // consumed
    return r;
  }
};

// The wrappers, named after winipsec.dll's exports.
inline constexpr qm_policy_fn<policy_operation::add> add_qm_policy{};
inline constexpr qm_policy_fn<policy_operation::set> set_qm_policy{};
inline constexpr qm_policy_fn<policy_operation::remove> delete_qm_policy{};
inline constexpr mm_policy_fn<policy_operation::add> add_mm_policy{};
inline constexpr mm_policy_fn<policy_operation::set> set_mm_policy{};
inline constexpr mm_policy_fn<policy_operation::remove> delete_mm_policy{};
inline constexpr auth_methods_fn<agent_operation::add> add_mm_auth_methods{};
inline constexpr auth_methods_fn<agent_operation::set> set_mm_auth_methods{};
inline constexpr auth_methods_fn<agent_operation::remove> delete_mm_auth_methods{};
template <agent_operation Op>
using transport_filter_fn = filter_operation_fn<filter_kind::transport, Op>;
template <agent_operation Op>
using tunnel_filter_fn = filter_operation_fn<filter_kind::tunnel, Op>;
template <agent_operation Op>
using mm_filter_fn = filter_operation_fn<filter_kind::main_mode, Op>;
inline constexpr transport_filter_fn<agent_operation::add> add_transport_filter{};
inline constexpr transport_filter_fn<agent_operation::open> open_transport_filter_handle{};
inline constexpr transport_filter_fn<agent_operation::set> set_transport_filter{};
inline constexpr transport_filter_fn<agent_operation::remove> delete_transport_filter{};
inline constexpr transport_filter_fn<agent_operation::close> close_transport_filter_handle{};
inline constexpr tunnel_filter_fn<agent_operation::add> add_tunnel_filter{};
inline constexpr tunnel_filter_fn<agent_operation::open> open_tunnel_filter_handle{};
inline constexpr tunnel_filter_fn<agent_operation::set> set_tunnel_filter{};
inline constexpr tunnel_filter_fn<agent_operation::remove> delete_tunnel_filter{};
inline constexpr tunnel_filter_fn<agent_operation::close> close_tunnel_filter_handle{};
inline constexpr mm_filter_fn<agent_operation::add> add_mm_filter{};
inline constexpr mm_filter_fn<agent_operation::open> open_mm_filter_handle{};
inline constexpr mm_filter_fn<agent_operation::set> set_mm_filter{};
inline constexpr mm_filter_fn<agent_operation::remove> delete_mm_filter{};
inline constexpr mm_filter_fn<agent_operation::close> close_mm_filter_handle{};

}  // namespace ipsec_retry::ipsec
