// SPDX-License-Identifier: BSL-1.0
// ipsec/composites.hpp: the replace and teardown stories against the simulated agent in
// virtual time, including a failure at every step, with the report's `left` checked against
// the agent's state.
#include "ipsec_test_support.hpp"

#include <ipsec_retry/ipsec/composites.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>

using namespace ipsec_test;
using ipsec::agent_operation;
using ipsec::filter_kind;
using ipsec::native_filter;

namespace {

constexpr ipsec::guid filter_id{0xf1, 1, 2, {1, 2, 3, 4, 5, 6, 7, 8}};
constexpr ipsec::guid auth_id{0xa1, 1, 2, {1, 2, 3, 4, 5, 6, 7, 8}};
constexpr std::wstring_view qm = L"corp-qm";
constexpr std::wstring_view mm = L"corp-mm";

// corp-qm used by one transport filter, to which this caller holds a handle; another client
// holds one until `held_until` (none if zero).
struct replace_world : world {
  explicit replace_world(nanoseconds held_until = {}) {
    agent.install(policy_kind::quick_mode, qm);
    filter.kind = filter_kind::transport;
    filter.id = filter_id;
    filter.policy = qm;
    filters[0].filter = filter;
    filters[0].handle = ipsec::filter_handle(agent, filter_kind::transport,
                                             agent.install_filter(agent.default_client(), filter));
    if (held_until != nanoseconds::zero()) {
      auto& other = agent.connect();
      EXPECT_TRUE(agent.hold_until(other, agent.install_filter(other, filter), at(held_until)));
    }
  }
  ipsec::composite_report replace(const ipsec::step_policies& policies = {}) {
    return ipsec::replace_policy(agent, policy_kind::quick_mode, qm, qm, {}, std::span(filters),
                                 policies, options());
  }
  native_filter filter;
  std::array<ipsec::replaced_filter, 1> filters{};
};

std::string step_names(const ipsec::composite_report& r) {
  std::string out;
  for (const auto& s : r.step_list()) out += (out.empty() ? "" : ", ") + s.name();
  return out;
}

}  // namespace

TEST(Replace, AnotherClientHoldingTheOldFilterUntil730msWithTheDefaultSites) {
  replace_world w(730ms);
  const ipsec::composite_report r = w.replace();
  ASSERT_TRUE(r) << r.failed_step_name() << ": " << r.left_behind();
  EXPECT_EQ(step_names(r),
            "delete transport-filter, delete qm-policy, add qm-policy, add transport-filter");
  EXPECT_EQ(r.steps[0].calls, 1u);  // the delete returns 0 at once: the filter is pending
  EXPECT_GT(r.steps[1].calls, 1u);  // IN_USE until 730 ms, retried at qm.delete's policy
  EXPECT_EQ(r.steps[2].calls, 1u);
  EXPECT_EQ(r.steps[3].calls, 1u);  // the old filter went away with the other handle
  EXPECT_EQ(r.agent_calls, w.agent.calls());
  EXPECT_GE(r.elapsed, 730ms);
  EXPECT_LT(r.elapsed, 730ms + 2s);  // qm.delete's delays are capped at 2 s (+20% jitter)
  EXPECT_EQ(r.left_behind(), "");
  // The new filter is added, through a handle the caller now holds.
  EXPECT_TRUE(w.filters[0].handle);
  EXPECT_EQ(w.agent.filter_state(filter_kind::transport, filter_id),
            simulated_agent::state::active);
  EXPECT_EQ(w.agent.state_of(policy_kind::quick_mode, qm), simulated_agent::state::active);
  EXPECT_TRUE(w.agent.referenced(policy_kind::quick_mode, qm));
}

TEST(Replace, HeldFor10sUnderA5sBudgetStopsAtThePolicyDeleteAndSaysWhatIsLeft) {
  replace_world w(10s);
  auto options = w.options();
  options.deadline = w.at(5s);
  const ipsec::composite_report r = ipsec::replace_policy(w.agent, policy_kind::quick_mode, qm, qm,
                                                          {}, std::span(w.filters), {}, options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failed_step_name(), "delete qm-policy");
  EXPECT_EQ(r.steps[*r.failed].stopped, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(r.steps[*r.failed].last_code, ir::make_error_code(ir::win32_error{13002}));
  EXPECT_EQ(r.left_behind(), "the filters are removed and the old policy is still present");
  EXPECT_FALSE(r.steps[2].ran);
  EXPECT_FALSE(r.steps[3].ran);
  EXPECT_EQ(r.elapsed, 5s);  // the final call at the deadline
  // What the report says is what the agent holds.
  EXPECT_EQ(w.agent.state_of(policy_kind::quick_mode, qm), simulated_agent::state::active);
  EXPECT_EQ(w.agent.filter_state(filter_kind::transport, filter_id),
            simulated_agent::state::pending_deletion);
  EXPECT_FALSE(w.filters[0].handle);
}

TEST(Replace, AFailureAtEveryStepNamesItAndWhatItLeft) {
  struct row {
    std::uint64_t failing_call;
    const char* step;
    const char* left;
    simulated_agent::state policy_after;
    simulated_agent::state filter_after;
  };
  using st = simulated_agent::state;
  const row rows[] = {
      {1, "delete transport-filter", "nothing is changed", st::active, st::active},
      // ACCESS_DENIED proves nothing about the policy: "not deleted", not "still present".
      {2, "delete qm-policy", "the filters are removed and the old policy is not deleted",
       st::active, st::absent},
      {3, "add qm-policy",
       "the filters are removed, the old policy is deleted and the new policy is not added",
       st::absent, st::absent},
      {4, "add transport-filter",
       "the filters are removed, the old policy is deleted, the new policy is added and no "
       "filter is re-added",
       st::active, st::absent},
  };
  for (const row& r : rows) {
    SCOPED_TRACE(r.step);
    replace_world w;
    w.agent.inject(r.failing_call, ir::win32_error{access_denied});
    const ipsec::composite_report report = w.replace();
    ASSERT_FALSE(report);
    EXPECT_EQ(report.failed_step_name(), r.step);
    EXPECT_EQ(report.steps[*report.failed].stopped, ir::stop_reason::permanent_error);
    EXPECT_EQ(report.left_behind(), r.left);
    EXPECT_EQ(report.agent_calls, r.failing_call);
    EXPECT_EQ(w.agent.state_of(policy_kind::quick_mode, qm), r.policy_after);
    EXPECT_EQ(w.agent.filter_state(filter_kind::transport, filter_id), r.filter_after);
    // A handle is held exactly when the filter it names is still this caller's.
    EXPECT_EQ(static_cast<bool>(w.filters[0].handle), r.failing_call == 1);
  }
}

TEST(Teardown, FiltersThenPoliciesThenAuthMethods) {
  world w;
  w.agent.install(policy_kind::main_mode, mm);
  w.agent.install_mm_auth_methods(auth_id);
  native_filter f;
  f.kind = filter_kind::main_mode;
  f.id = filter_id;
  f.policy = mm;
  f.auth_methods = auth_id;
  auto& other = w.agent.connect();
  ASSERT_TRUE(w.agent.hold_until(other, w.agent.install_filter(other, f), w.at(100ms)));
  std::array<ipsec::filter_handle, 1> handles{ipsec::filter_handle(
      w.agent, filter_kind::main_mode, w.agent.install_filter(w.agent.default_client(), f))};
  const std::array<ipsec::teardown_policy_ref, 1> policies{{{policy_kind::main_mode, mm}}};
  const std::array<ipsec::guid, 1> auth{auth_id};
  const ipsec::composite_report r = ipsec::teardown(
      w.agent, std::span(handles), std::span(policies), std::span(auth), {}, w.options());
  ASSERT_TRUE(r) << r.failed_step_name() << ": " << r.left_behind();
  EXPECT_EQ(step_names(r), "delete mm-filter, delete mm-policy, delete mm-auth-methods");
  EXPECT_GT(r.steps[1].calls, 1u);  // IN_USE (13005) until the other handle closes at 100 ms
  EXPECT_EQ(r.steps[2].calls, 1u);
  EXPECT_GE(r.elapsed, 100ms);
  EXPECT_EQ(w.agent.state_of(policy_kind::main_mode, mm), simulated_agent::state::absent);
  EXPECT_EQ(w.agent.filter_state(filter_kind::main_mode, filter_id),
            simulated_agent::state::absent);
  EXPECT_FALSE(handles[0]);
}

TEST(Teardown, AFailureAtEveryStepNamesItAndWhatItLeft) {
  struct row {
    std::uint64_t failing_call;
    const char* step;
    const char* left;
  };
  const row rows[] = {
      {1, "delete mm-filter", "nothing is changed"},
      {2, "delete mm-policy", "the filters are removed and the old policy is not deleted"},
      {3, "delete mm-auth-methods",
       "the filters are removed, the old policy is deleted and the old auth methods are not "
       "deleted"},
  };
  for (const row& r : rows) {
    SCOPED_TRACE(r.step);
    world w;
    w.agent.install(policy_kind::main_mode, mm);
    w.agent.install_mm_auth_methods(auth_id);
    native_filter f;
    f.kind = filter_kind::main_mode;
    f.id = filter_id;
    f.policy = mm;
    f.auth_methods = auth_id;
    std::array<ipsec::filter_handle, 1> handles{ipsec::filter_handle(
        w.agent, filter_kind::main_mode, w.agent.install_filter(w.agent.default_client(), f))};
    const std::array<ipsec::teardown_policy_ref, 1> policies{{{policy_kind::main_mode, mm}}};
    const std::array<ipsec::guid, 1> auth{auth_id};
    w.agent.inject(r.failing_call, ir::win32_error{access_denied});
    const ipsec::composite_report report = ipsec::teardown(
        w.agent, std::span(handles), std::span(policies), std::span(auth), {}, w.options());
    ASSERT_FALSE(report);
    EXPECT_EQ(report.failed_step_name(), r.step);
    EXPECT_EQ(report.left_behind(), r.left);
    EXPECT_EQ(w.agent.state_of(policy_kind::main_mode, mm) == simulated_agent::state::active,
              r.failing_call <= 2);
    EXPECT_EQ(w.agent.referenced(auth_id), r.failing_call == 1);
  }
}

// A teardown accepts absent objects, so a fault on the Delete of one must not claim it exists
// (agent_ops_fuzz's finding: "the old auth methods are still present" for absent ones).
TEST(Teardown, AFaultOnAnAbsentObjectSaysNotDeleted) {
  world w;
  const std::array<ipsec::teardown_policy_ref, 0> policies{};
  const std::array<ipsec::guid, 1> auth{auth_id};  // never added
  std::array<ipsec::filter_handle, 0> handles{};
  w.agent.inject(1, ir::win32_error{access_denied});
  const ipsec::composite_report report = ipsec::teardown(
      w.agent, std::span(handles), std::span(policies), std::span(auth), {}, w.options());
  ASSERT_FALSE(report);
  EXPECT_EQ(report.failed_step_name(), "delete mm-auth-methods");
  EXPECT_EQ(report.left_behind().find("still present"), std::string::npos) << report.left_behind();
  EXPECT_EQ(w.agent.state_of(auth_id), simulated_agent::state::absent);
}
