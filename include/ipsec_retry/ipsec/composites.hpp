// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: the composite operations users run: replace a policy that filters use,
// and teardown (filters, then policies, then auth methods).
//
// Each step is a typed operation (operations.hpp) retried at its own call site (step_policies,
// by default the built-in sites: transport_filter.delete, qm.delete, qm.add,
// transport_filter.add, ...), all bounded by the caller's options (one deadline, one stop
// token, one clock). A composite stops at the first step that fails and reports which step it
// was, how each step went, and what it left behind; it never hides a half-done state.
//
// Replace (docs/simulator.md, "The replace story"): delete the filters through their handles,
// delete the old policy (IN_USE is transient here: a deleted filter stays pending deletion, and
// keeps the policy in use, while another client holds a handle to it), add the new policy, and
// re-add the filters (EXISTS is transient here: the old filter may still be pending).
//
//   std::array<ipsec_retry::ipsec::replaced_filter, 1> filters{{{std::move(h), next_filter}}};
//   auto report = ipsec_retry::ipsec::replace_policy(agent, policy_kind::quick_mode,
//                                                    L"corp-qm", L"corp-qm", next_body, filters);
//   if (!report) log(report.failed_step_name(), report.left_behind());
//   // on success, filters[i].handle holds the re-added filter's handle
#pragma once

#include <ipsec_retry/ipsec/operations.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace ipsec_retry::ipsec {

/// The CLI's noun for an object kind: qm-policy, mm-policy, mm-auth-methods,
/// transport-filter, tunnel-filter, mm-filter.
std::string_view object_noun(object_kind object) noexcept;

/// How one step of a composite went.
struct step_report {
  object_kind object = object_kind::qm_policy;
  agent_operation op = agent_operation::remove;
  bool ran = false;                    ///< false: the composite stopped before this step
  std::optional<stop_reason> stopped;  ///< empty: the step succeeded
  std::uint32_t calls = 0;             ///< agent calls of this step (all its objects)
  std::uint32_t done = 0;              ///< objects the step finished (filters removed, ...)
  std::uint32_t total = 0;             ///< objects the step was about
  std::error_code last_code{};         ///< the failing call's code
  /// "delete transport-filter", "add qm-policy", ...
  std::string name() const;
};

/// What a composite did: its steps in order, the first that failed, and the calls made.
struct composite_report {
  std::array<step_report, 4> steps{};
  std::size_t step_count = 0;
  std::optional<std::size_t> failed;  ///< index into steps; empty: every step succeeded
  std::uint32_t agent_calls = 0;
  nanoseconds elapsed{};

  explicit operator bool() const noexcept { return !failed; }
  std::span<const step_report> step_list() const noexcept { return {steps.data(), step_count}; }
  /// The failed step's name, "" on success.
  std::string failed_step_name() const;
  /// What a failure left behind, in words ("" on success), e.g. "the filters are removed and
  /// the old policy is still present".
  std::string left_behind() const;
};

/// One filter a replace moves to the new policy: in, the handle to the old filter (deleted
/// through it); out, the handle to the re-added filter. `filter`: the filter to add, using the
/// new policy.
struct replaced_filter {
  filter_handle handle;
  native_filter filter;
};

/// The policy of each step of a composite (default: the built-in sites' policies).
struct step_policies {
  const retry_policy* filter_delete = nullptr;  ///< nullptr: builtin_policy(filter, remove)
  const retry_policy* policy_delete = nullptr;  ///< nullptr: builtin_policy(policy, remove)
  const retry_policy* policy_add = nullptr;     ///< nullptr: builtin_policy(policy, add)
  const retry_policy* filter_add = nullptr;     ///< nullptr: builtin_policy(filter, add)
  const retry_policy* auth_delete = nullptr;    ///< nullptr: builtin_policy(auth, remove)
};

namespace detail {

inline const retry_policy& pick(const retry_policy* given, object_kind object,
                                agent_operation op) noexcept {
  return given != nullptr ? *given : builtin_policy(object, op);
}

// Runs one target, folding its outcome into `step`; false when it failed.
template <class Agent, class Options>
bool run_step(Agent& agent, const operation_target& target, const retry_policy& policy,
              const Options& options, const operation_options& operation, step_report& step,
              agent_handle* received = nullptr) {
  auto r = run_operation(agent, target, policy, options, operation);
  if (r) {
    step.calls += r.value().calls;
    ++step.done;
    if (received != nullptr) *received = r.value().handle;
    return true;
  }
  step.calls += r.error().calls;
  step.stopped = r.error().reason;
  step.last_code = r.error().code;
  return false;
}

// Starts the next step of `report`.
inline step_report& begin_step(composite_report& report, object_kind object, agent_operation op,
                               std::size_t total) {
  step_report& s = report.steps[report.step_count++];
  s.object = object;
  s.op = op;
  s.ran = true;
  s.total = static_cast<std::uint32_t>(total);
  return s;
}

inline void finish(composite_report& report, time_point start, time_point end) {
  for (std::size_t i = 0; i < report.step_count; ++i) {
    report.agent_calls += report.steps[i].calls;
    if (!report.failed && report.steps[i].stopped) report.failed = i;
  }
  report.elapsed = end - start;
}

// A step that will not run (an earlier one failed), listed so the report names every step.
inline void skip_step(composite_report& report, object_kind object, agent_operation op,
                      std::size_t total) {
  step_report& s = begin_step(report, object, op, total);
  s.ran = false;
}

}  // namespace detail

/// Replaces policy `old_name` of `kind` by `new_name` (may be the same name) with `body`,
/// moving `filters` (all using the old policy) to it. The filters' kinds must fit `kind`
/// (transport or tunnel for QM, MM for MM); each filter's `policy` should name the new policy.
/// `options` as retry()'s: its deadline and stop token bound the whole composite.
template <class Agent, retry_options_type Options = retry_options<>>
composite_report replace_policy(Agent& agent, policy_kind kind, std::wstring_view old_name,
                                std::wstring_view new_name, native_policy body,
                                std::span<replaced_filter> filters,
                                const step_policies& policies = {}, const Options& options = {}) {
  auto clock = options.clock;
  const time_point start = clock.now();
  const object_kind policy_object = to_object_kind(kind);
  const object_kind filter_object =
      filters.empty() ? (kind == policy_kind::quick_mode ? object_kind::transport_filter
                                                         : object_kind::mm_filter)
                      : to_object_kind(filters.front().filter.kind);
  composite_report report;
  bool ok = true;

  step_report& removal =
      detail::begin_step(report, filter_object, agent_operation::remove, filters.size());
  for (replaced_filter& f : filters) {
    native_filter which;
    which.kind = f.filter.kind;
    if (!detail::run_step(
            agent, operation_target::for_filter(agent_operation::remove, which, f.handle.get()),
            detail::pick(policies.filter_delete, filter_object, agent_operation::remove), options,
            {}, removal)) {
      ok = false;
      break;
    }
    (void)f.handle.release();  // consumed by the delete
  }

  const operation_options after_removal{.after_filters_removed = !filters.empty()};
  if (ok) {
    step_report& s = detail::begin_step(report, policy_object, agent_operation::remove, 1);
    ok = detail::run_step(
        agent, {kind, agent_operation::remove, old_name},
        detail::pick(policies.policy_delete, policy_object, agent_operation::remove), options,
        after_removal, s);
  } else {
    detail::skip_step(report, policy_object, agent_operation::remove, 1);
  }
  if (ok) {
    step_report& s = detail::begin_step(report, policy_object, agent_operation::add, 1);
    ok = detail::run_step(agent, {kind, agent_operation::add, new_name, body},
                          detail::pick(policies.policy_add, policy_object, agent_operation::add),
                          options, {}, s);
  } else {
    detail::skip_step(report, policy_object, agent_operation::add, 1);
  }
  if (ok) {
    step_report& s =
        detail::begin_step(report, filter_object, agent_operation::add, filters.size());
    for (replaced_filter& f : filters) {
      agent_handle received;
      if (!detail::run_step(agent, operation_target::for_filter(agent_operation::add, f.filter),
                            detail::pick(policies.filter_add, filter_object, agent_operation::add),
                            options, {.readd_after_delete = true}, s, &received)) {
        break;
      }
      f.handle = filter_handle(agent, f.filter.kind, received);
    }
  } else {
    detail::skip_step(report, filter_object, agent_operation::add, filters.size());
  }
  detail::finish(report, start, clock.now());
  return report;
}

/// Tears down a configuration in the only order the agent accepts: the filters (through their
/// handles), then the policies they used, then the MM auth methods. Policies and auth methods
/// are deleted with IN_USE transient (their filters may be pending behind another client's
/// handle) and NOT_FOUND done (absent is what was asked).
struct teardown_policy_ref {
  policy_kind kind = policy_kind::quick_mode;
  std::wstring_view name;
};
template <class Agent, retry_options_type Options = retry_options<>>
composite_report teardown(Agent& agent, std::span<filter_handle> filters,
                          std::span<const teardown_policy_ref> policies,
                          std::span<const guid> auth_methods = {}, const step_policies& step = {},
                          const Options& options = {}) {
  auto clock = options.clock;
  const time_point start = clock.now();
  composite_report report;
  const object_kind filter_object =
      filters.empty() ? object_kind::transport_filter : to_object_kind(filters.front().kind());
  const object_kind policy_object =
      policies.empty() ? object_kind::qm_policy : to_object_kind(policies.front().kind);
  const operation_options gone{.absent_is_done = true, .after_filters_removed = true};
  bool ok = true;

  step_report& removal =
      detail::begin_step(report, filter_object, agent_operation::remove, filters.size());
  for (filter_handle& h : filters) {
    native_filter which;
    which.kind = h.kind();
    if (!detail::run_step(
            agent, operation_target::for_filter(agent_operation::remove, which, h.get()),
            detail::pick(step.filter_delete, to_object_kind(h.kind()), agent_operation::remove),
            options, {}, removal)) {
      ok = false;
      break;
    }
    (void)h.release();
  }
  if (ok) {
    step_report& s =
        detail::begin_step(report, policy_object, agent_operation::remove, policies.size());
    for (const teardown_policy_ref& p : policies) {
      if (!detail::run_step(
              agent, {p.kind, agent_operation::remove, p.name},
              detail::pick(step.policy_delete, to_object_kind(p.kind), agent_operation::remove),
              options, gone, s)) {
        ok = false;
        break;
      }
    }
  } else {
    detail::skip_step(report, policy_object, agent_operation::remove, policies.size());
  }
  if (ok) {
    step_report& s = detail::begin_step(report, object_kind::mm_auth_methods,
                                        agent_operation::remove, auth_methods.size());
    for (const guid& id : auth_methods) {
      if (!detail::run_step(
              agent, operation_target::for_auth_methods(agent_operation::remove, id),
              detail::pick(step.auth_delete, object_kind::mm_auth_methods, agent_operation::remove),
              options, gone, s)) {
        break;
      }
    }
  } else {
    detail::skip_step(report, object_kind::mm_auth_methods, agent_operation::remove,
                      auth_methods.size());
  }
  detail::finish(report, start, clock.now());
  return report;
}

}  // namespace ipsec_retry::ipsec
