// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: what a typed Policy Agent operation is. The vocabulary of the engine
// (engine.hpp): the objects and operations, the operation table (each operation's idempotency
// rules), the one seam call of each operation (call_agent), its options and its result.
//
// Adding an operation or an object kind means one row in traits_of() and one case in
// call_agent(); the engine, the blocking wrappers and the simulator's drivers need no change.
#pragma once

#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry_policy.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <concepts>
#include <cstdint>
#include <string_view>

namespace ipsec_retry::ipsec {

class pending_deletion_waits;

/// The operations with call sites of their own. Policies and MM auth methods: add, set,
/// remove (Delete*). Filters also open (Open*FilterHandle) and close (Close*FilterHandle);
/// their set, remove and close go through a handle.
enum class agent_operation : std::uint8_t { add, set, remove, open, close };
/// The name 0.1 gave it, when only policies had operations.
using policy_operation = agent_operation;

constexpr std::string_view to_string(agent_operation op) noexcept {
  switch (op) {
    case agent_operation::add:
      return "add";
    case agent_operation::set:
      return "set";
    case agent_operation::remove:
      return "delete";
    case agent_operation::open:
      return "open";
    case agent_operation::close:
      return "close";
  }
  return "delete";
}

constexpr object_kind to_object_kind(policy_kind k) noexcept {
  return k == policy_kind::quick_mode ? object_kind::qm_policy : object_kind::mm_policy;
}
constexpr object_kind to_object_kind(filter_kind k) noexcept {
  switch (k) {
    case filter_kind::transport:
      return object_kind::transport_filter;
    case filter_kind::tunnel:
      return object_kind::tunnel_filter;
    case filter_kind::main_mode:
      return object_kind::mm_filter;
  }
  return object_kind::transport_filter;
}
constexpr bool is_filter(object_kind k) noexcept {
  return k == object_kind::transport_filter || k == object_kind::tunnel_filter ||
         k == object_kind::mm_filter;
}
constexpr bool is_policy(object_kind k) noexcept {
  return k == object_kind::qm_policy || k == object_kind::mm_policy;
}

/// How a typed operation reached success.
enum class completion : std::uint8_t {
  done,                    ///< the agent returned success (or a warning such as *_PRUNED)
  gone_after_pending,      ///< delete: NOT_FOUND after PENDING_DELETION: the deletion completed
  exists_after_ambiguous,  ///< add (opt-in): EXISTS after an ambiguous failure: we had added it
  already_absent,          ///< delete (opt-in absent_is_done): NOT_FOUND: someone else deleted it
};

constexpr std::string_view to_string(completion c) noexcept {
  switch (c) {
    case completion::done:
      return "done";
    case completion::gone_after_pending:
      return "gone_after_pending";
    case completion::exists_after_ambiguous:
      return "exists_after_ambiguous";
    case completion::already_absent:
      return "already_absent";
  }
  return "done";
}

/// The value of a successful typed operation.
struct operation_result {
  win32_error code;       ///< the agent's last code (0, a warning, or the NOT_FOUND/EXISTS that
                          ///< counted as done)
  completion how;         ///< which rule made it a success
  std::uint32_t calls;    ///< agent calls made
  agent_handle handle{};  ///< add and open of a filter: the handle received (yours to close)
  friend bool operator==(const operation_result&, const operation_result&) = default;
};

/// A call site's options for a typed operation (all off by default, costing nothing). Each
/// names a fact only the caller knows (docs/simulator.md, "Typed operations").
struct operation_options {
  /// add: retry ambiguous transport failures, and count a later *_EXISTS as done.
  bool exists_after_ambiguous_is_done = false;
  /// delete: *_NOT_FOUND is done even if this caller never saw the object pending deletion
  /// (the second of two callers deleting the same object; completion::already_absent).
  bool absent_is_done = false;
  /// delete of a policy or MM auth methods: the filters that used it were just removed, so
  /// *_IN_USE is transient (they may be pending deletion behind another client's handle).
  bool after_filters_removed = false;
  /// add of a filter: this caller has just deleted it, so *_EXISTS is transient (the old
  /// filter is pending deletion until another client's handle closes).
  bool readd_after_delete = false;
  /// Coalesced waits on a pending deletion (coalesce.hpp); nullptr: off.
  pending_deletion_waits* waits = nullptr;
  /// The agent's server name for coalescing ("" = this machine).
  std::wstring_view endpoint{};
};

/// What one typed operation is about: the object, the operation, and what its seam call
/// (call_agent) passes. Build it with the constructor for a policy or with for_auth_methods /
/// for_filter. The views must outlive the operation.
struct operation_target {
  object_kind object = object_kind::qm_policy;
  agent_operation op = agent_operation::remove;
  std::wstring_view name{};       ///< a policy's name
  native_policy body{};           ///< a policy's add and set: the SDK structure
  guid id{};                      ///< MM auth methods' GUID
  native_auth_methods methods{};  ///< auth methods' add and set: the SDK structure
  native_filter filter{};         ///< a filter's add, open and set
  agent_handle handle{};          ///< a filter's set, delete and close: the caller's handle

  constexpr operation_target() = default;
  /// A QM or MM policy.
  constexpr operation_target(policy_kind kind, agent_operation operation, std::wstring_view n,
                             native_policy b = {}) noexcept
      : object(to_object_kind(kind)), op(operation), name(n), body(b) {}
  static constexpr operation_target for_auth_methods(agent_operation operation, const guid& g,
                                                     native_auth_methods m = {}) noexcept {
    operation_target t;
    t.object = object_kind::mm_auth_methods;
    t.op = operation;
    t.id = g;
    t.methods = m;
    return t;
  }
  static constexpr operation_target for_filter(agent_operation operation, const native_filter& f,
                                               agent_handle h = {}) noexcept {
    operation_target t;
    t.object = to_object_kind(f.kind);
    t.op = operation;
    t.filter = f;
    t.handle = h;
    return t;
  }
};

/// The operation table: one row per (object family, operation).
struct operation_traits {
  bool exists = true;                 ///< the object kind has this operation
  bool idempotent = false;            ///< ambiguous transport failures are retried by default
  bool done_when_gone = false;        ///< NOT_FOUND after PENDING_DELETION is done (a delete)
  bool may_exist_after_call = false;  ///< EXISTS after an ambiguous failure may be ours (add)
  bool pending_is_final = false;      ///< PENDING_DELETION is permanent (set through own handle)
};
constexpr operation_traits traits_of(object_kind object, agent_operation op) noexcept {
  const bool filter = is_filter(object);
  switch (op) {
    case agent_operation::add:
      return {.may_exist_after_call = true};
    case agent_operation::set:
      // Set through the caller's own handle on a filter another client deleted: the handle
      // is what keeps the filter, so it can never succeed while held.
      return {.idempotent = true, .pending_is_final = filter};
    case agent_operation::remove:
      // A filter's delete consumes the handle: after an ambiguous failure the handle may be
      // gone, so it is not retried by default.
      return {.idempotent = !filter, .done_when_gone = !filter};
    case agent_operation::open:
      return {.exists = filter, .idempotent = true};
    case agent_operation::close:
      return {.exists = filter};
  }
  return {.exists = false};
}
constexpr operation_traits traits_of(agent_operation op) noexcept {
  return traits_of(object_kind::qm_policy, op);
}

/// The library's default policy for an operation (docs/simulator.md). Those that wait for
/// another client (a policy's delete, a filter's add and open) wait longest: a pending
/// deletion lasts until another client's handle closes.
///   waits   "timeout=60s, initial=50ms, max_delay=2s"   (exponential x2, 20% jitter)
///   others  "timeout=30s, initial=20ms, max_delay=1s"
const retry_policy& builtin_policy(object_kind object, agent_operation op) noexcept;
/// A policy's operations (0.1).
const retry_policy& builtin_policy(agent_operation op) noexcept;

/// Agents with the auth-methods or the filter part of policy_agent's member functions.
template <class Agent>
concept auth_methods_agent = requires(Agent& a, const guid& g, native_auth_methods m) {
  { a.add_mm_auth_methods(g, m) } -> std::same_as<win32_error>;
  { a.set_mm_auth_methods(g, m) } -> std::same_as<win32_error>;
  { a.delete_mm_auth_methods(g) } -> std::same_as<win32_error>;
};
template <class Agent>
concept filter_agent = requires(Agent& a, const native_filter& f, agent_handle& h, filter_kind k) {
  { a.add_filter(f, h) } -> std::same_as<win32_error>;
  { a.open_filter(f, h) } -> std::same_as<win32_error>;
  { a.set_filter(k, h, f) } -> std::same_as<win32_error>;
  { a.delete_filter(k, h) } -> std::same_as<win32_error>;
  { a.close_filter(k, h) } -> std::same_as<win32_error>;
};

/// The one seam call of a target through `agent`, any type with policy_agent's member
/// functions. One with only the policy calls (a 0.1 fake, say) gets ERROR_CALL_NOT_IMPLEMENTED
/// (120, permanent) for auth methods and filters. Add and open of a filter store the handle
/// received in `received`.
template <class Agent>
win32_error call_agent(Agent& agent, const operation_target& t, agent_handle& received) {
  constexpr win32_error not_implemented{120};  // ERROR_CALL_NOT_IMPLEMENTED
  switch (t.object) {
    case object_kind::qm_policy:
    case object_kind::mm_policy: {
      const policy_kind kind =
          t.object == object_kind::qm_policy ? policy_kind::quick_mode : policy_kind::main_mode;
      switch (t.op) {
        case agent_operation::add:
          return agent.add_policy(kind, t.name, t.body);
        case agent_operation::set:
          return agent.set_policy(kind, t.name, t.body);
        case agent_operation::remove:
          return agent.delete_policy(kind, t.name);
        default:
          return win32_error::invalid_parameter;
      }
    }
    case object_kind::mm_auth_methods:
      if constexpr (auth_methods_agent<Agent>) {
        switch (t.op) {
          case agent_operation::add:
            return agent.add_mm_auth_methods(t.id, t.methods);
          case agent_operation::set:
            return agent.set_mm_auth_methods(t.id, t.methods);
          case agent_operation::remove:
            return agent.delete_mm_auth_methods(t.id);
          default:
            return win32_error::invalid_parameter;
        }
      } else {
        return not_implemented;
      }
    case object_kind::transport_filter:
    case object_kind::tunnel_filter:
    case object_kind::mm_filter:
      if constexpr (filter_agent<Agent>) {
        switch (t.op) {
          case agent_operation::add:
            return agent.add_filter(t.filter, received);
          case agent_operation::open:
            return agent.open_filter(t.filter, received);
          case agent_operation::set:
            return agent.set_filter(t.filter.kind, t.handle, t.filter);
          case agent_operation::remove:
            return agent.delete_filter(t.filter.kind, t.handle);
          case agent_operation::close:
            return agent.close_filter(t.filter.kind, t.handle);
        }
      } else {
        return not_implemented;
      }
  }
  return win32_error::invalid_parameter;
}
template <class Agent>
win32_error call_agent(Agent& agent, const operation_target& t) {
  agent_handle ignored;
  return call_agent(agent, t, ignored);
}

}  // namespace ipsec_retry::ipsec
