// SPDX-License-Identifier: BSL-1.0
// ipsec/operations.hpp for the objects beyond policies: MM auth methods and the three kinds of
// filter through handles (filter_handle.hpp), their call sites, and the idempotency rules of
// docs/simulator.md ("Typed operations"), one test row per rule, against the simulated agent
// in virtual time.
#include "ipsec_test_support.hpp"

#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/filter_handle.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>

using namespace ipsec_test;
using ipsec::agent_operation;
using ipsec::filter_kind;
using ipsec::native_filter;
using ir::object_kind;

namespace {

constexpr ipsec::guid filter_id{0xf1, 1, 2, {1, 2, 3, 4, 5, 6, 7, 8}};
constexpr ipsec::guid auth_id{0xa1, 1, 2, {1, 2, 3, 4, 5, 6, 7, 8}};
constexpr std::wstring_view qm = L"corp-qm";
constexpr std::wstring_view mm = L"corp-mm";

struct filter_case {
  const char* label;
  filter_kind kind;
  std::uint32_t exists, not_found, pending;
};
constexpr filter_case filter_kinds[] = {
    {"transport", filter_kind::transport, 13008, 13009, 13019},
    {"tunnel", filter_kind::tunnel, 13016, 13017, 13020},
    {"MM", filter_kind::main_mode, 13006, 13007, 13018},
};
std::string filter_label(const ::testing::TestParamInfo<filter_case>& p) {
  return p.param.label;
}

// A filter of `kind` whose policy (and auth methods) `w` has installed.
native_filter story_filter(world& w, filter_kind kind) {
  native_filter f;
  f.kind = kind;
  f.id = filter_id;
  if (kind == filter_kind::main_mode) {
    w.agent.install(policy_kind::main_mode, mm);
    w.agent.install_mm_auth_methods(auth_id);
    f.policy = mm;
    f.auth_methods = auth_id;
  } else {
    w.agent.install(policy_kind::quick_mode, qm);
    f.policy = qm;
  }
  return f;
}

// Typed filter operations by kind, so one table covers the three.
template <agent_operation Op, class... Args>
auto filter_op(filter_kind kind, Args&&... args) {
  switch (kind) {
    case filter_kind::tunnel:
      return ipsec::tunnel_filter_fn<Op>{}(std::forward<Args>(args)...);
    case filter_kind::main_mode:
      return ipsec::mm_filter_fn<Op>{}(std::forward<Args>(args)...);
    case filter_kind::transport:
      break;
  }
  return ipsec::transport_filter_fn<Op>{}(std::forward<Args>(args)...);
}

const ir::retry_policy& quick() {
  static const ir::retry_policy p = ipsec_test::policy("initial=10ms, jitter=none, timeout=1s");
  return p;
}

}  // namespace

class FilterOperations : public ::testing::TestWithParam<filter_case> {};
INSTANTIATE_TEST_SUITE_P(Kinds, FilterOperations, ::testing::ValuesIn(filter_kinds), filter_label);

TEST_P(FilterOperations, AddGivesAHandleThatClosesItself) {
  const filter_case k = GetParam();
  world w;
  const native_filter f = story_filter(w, k.kind);
  {
    auto added = filter_op<agent_operation::add>(k.kind, w.agent, f, quick(), w.options());
    ASSERT_TRUE(added) << added.error().message();
    EXPECT_TRUE(added.value().handle);
    EXPECT_EQ(added.value().result.calls, 1u);
    EXPECT_EQ(w.agent.open_handles(k.kind, filter_id), 1u);
    ipsec::filter_handle moved = std::move(added.value().handle);
    EXPECT_FALSE(added.value().handle);
    EXPECT_TRUE(moved);
  }
  EXPECT_EQ(w.agent.open_handles(k.kind, filter_id), 0u);  // ~filter_handle closed it
  EXPECT_EQ(w.agent.filter_state(k.kind, filter_id), simulated_agent::state::active);
}

TEST_P(FilterOperations, AddOfAnExistingFilterIsPermanentByDefault) {
  const filter_case k = GetParam();
  world w;
  const native_filter f = story_filter(w, k.kind);
  w.agent.install_filter(f);
  auto added = filter_op<agent_operation::add>(k.kind, w.agent, f, quick(), w.options());
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code.value(), static_cast<int>(k.exists));
  EXPECT_EQ(added.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(added.error().calls, 1u);
}

TEST_P(FilterOperations, ReAddAfterOwnDeleteWaitsOutTheOldFilter) {
  // Rule: re-adding a filter you just deleted treats EXISTS as transient.
  const filter_case k = GetParam();
  world w;
  const native_filter f = story_filter(w, k.kind);
  auto& other = w.agent.connect();
  const ipsec::agent_handle theirs = w.agent.install_filter(other, f);
  ipsec::filter_handle mine(w.agent, k.kind, w.agent.install_filter(w.agent.default_client(), f));
  ASSERT_TRUE(w.agent.hold_until(other, theirs, w.at(45ms)));
  const auto deleted =
      filter_op<agent_operation::remove>(k.kind, w.agent, mine, quick(), w.options());
  expect_success(deleted, success, completion::done, 1);
  EXPECT_FALSE(mine);  // consumed
  EXPECT_EQ(w.agent.filter_state(k.kind, filter_id), simulated_agent::state::pending_deletion);

  timed_agent timed{w.agent, w.time};
  auto added = filter_op<agent_operation::add>(
      k.kind, timed, f, quick(), w.options(), ipsec::operation_options{.readd_after_delete = true});
  ASSERT_TRUE(added) << added.error().message();
  EXPECT_EQ(timed.starts(), ms({0, 10, 30, 70}));  // EXISTS until the other handle closes at 45
  EXPECT_EQ(timed.timeline.front().code, ir::win32_error{k.exists});
}

TEST_P(FilterOperations, OpenWaitsForThePendingFilterThenFindsItGone) {
  const filter_case k = GetParam();
  world w;
  const native_filter f = story_filter(w, k.kind);
  auto& other = w.agent.connect();
  const ipsec::agent_handle theirs = w.agent.install_filter(other, f);
  ipsec::filter_handle mine(w.agent, k.kind, w.agent.install_filter(w.agent.default_client(), f));
  ASSERT_TRUE(w.agent.hold_until(other, theirs, w.at(25ms)));
  ASSERT_TRUE(filter_op<agent_operation::remove>(k.kind, w.agent, mine, quick(), w.options()));
  timed_agent timed{w.agent, w.time};
  auto opened = filter_op<agent_operation::open>(k.kind, timed, f, quick(), w.options());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code.value(), static_cast<int>(k.not_found));
  EXPECT_EQ(opened.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(timed.starts(), ms({0, 10, 30}));
  EXPECT_EQ(timed.timeline.front().code, ir::win32_error{k.pending});
}

TEST_P(FilterOperations, SetThroughOwnHandleOnAFilterAnotherClientDeletedIsPermanent) {
  // Rule: the caller's own handle is what keeps the filter: waiting can never help.
  const filter_case k = GetParam();
  world w;
  const native_filter f = story_filter(w, k.kind);
  auto& other = w.agent.connect();
  ipsec::filter_handle mine(w.agent, k.kind, w.agent.install_filter(w.agent.default_client(), f));
  ipsec::filter_handle theirs(other, k.kind, w.agent.install_filter(other, f));
  ASSERT_TRUE(filter_op<agent_operation::remove>(k.kind, other, theirs, quick(), w.options()));
  const auto set = filter_op<agent_operation::set>(k.kind, w.agent, mine, f, quick(), w.options());
  expect_failure(set, k.pending, ir::stop_reason::permanent_error, 1);
  EXPECT_TRUE(mine);  // a failed set keeps the handle
  EXPECT_EQ(w.agent.filter_state(k.kind, filter_id), simulated_agent::state::pending_deletion);
  EXPECT_EQ(mine.close(), ir::win32_error{});
  EXPECT_EQ(w.agent.filter_state(k.kind, filter_id), simulated_agent::state::absent);
}

TEST_P(FilterOperations, CloseConsumesTheHandleWhateverItsCode) {
  const filter_case k = GetParam();
  world w;
  const native_filter f = story_filter(w, k.kind);
  ipsec::filter_handle h(w.agent, k.kind, w.agent.install_filter(w.agent.default_client(), f));
  const auto closed = filter_op<agent_operation::close>(k.kind, w.agent, h, quick(), w.options());
  expect_success(closed, success, completion::done, 1);
  EXPECT_FALSE(h);
  EXPECT_EQ(w.agent.open_handles(k.kind, filter_id), 0u);
}

TEST_P(FilterOperations, AmbiguousFailureOfADeleteThroughAHandleIsNotRetried) {
  const filter_case k = GetParam();
  world w;
  const native_filter f = story_filter(w, k.kind);
  ipsec::filter_handle h(w.agent, k.kind, w.agent.install_filter(w.agent.default_client(), f));
  w.agent.inject(1, ir::win32_error{rpc_call_failed});
  const auto r = filter_op<agent_operation::remove>(k.kind, w.agent, h, quick(), w.options());
  expect_failure(r, rpc_call_failed, ir::stop_reason::permanent_error, 1);
  EXPECT_TRUE(h);  // not consumed: the caller decides
}

// ---------------------------------------------------------------------------------------------
// Policies and auth methods: the delete rules.

TEST(PolicyDelete, InUseIsPermanentUnlessTheFiltersWereJustRemoved) {
  world w;
  const native_filter f = story_filter(w, filter_kind::transport);
  w.agent.install_filter(f);
  const auto plain = ipsec::delete_qm_policy(w.agent, qm, quick(), w.options());
  expect_failure(plain, 13002, ir::stop_reason::permanent_error, 1);

  // Rule: a policy delete after its filters were removed treats IN_USE as transient.
  auto& other = w.agent.connect();
  const ipsec::agent_handle theirs = w.agent.install_filter(other, f);
  ipsec::filter_handle mine(w.agent, filter_kind::transport,
                            w.agent.install_filter(w.agent.default_client(), f));
  ASSERT_TRUE(w.agent.hold_until(other, theirs, w.time.now() + 25ms));
  ASSERT_TRUE(ipsec::delete_transport_filter(w.agent, mine, quick(), w.options()));
  timed_agent timed{w.agent, w.time};
  const auto r =
      ipsec::delete_qm_policy(timed, qm, quick(), w.options(), {.after_filters_removed = true});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().calls, 3u);
  EXPECT_EQ(timed.timeline.front().code, ir::win32_error{13002});
}

TEST(PolicyDelete, AbsentIsDoneWhenTheCallerSaysSo) {
  world w;
  expect_failure(ipsec::delete_qm_policy(w.agent, qm, quick(), w.options()), qm_not_found,
                 ir::stop_reason::permanent_error, 1);
  expect_success(
      ipsec::delete_qm_policy(w.agent, qm, quick(), w.options(), {.absent_is_done = true}),
      qm_not_found, completion::already_absent, 1);
  expect_success(ipsec::delete_mm_auth_methods(w.agent, auth_id, quick(), w.options(),
                                               {.absent_is_done = true}),
                 mm_auth_not_found, completion::already_absent, 1);
}

TEST(AuthMethods, AddSetDeleteAndInUse) {
  world w;
  expect_success(ipsec::add_mm_auth_methods(w.agent, auth_id, {}, quick(), w.options()), success,
                 completion::done, 1);
  expect_success(ipsec::set_mm_auth_methods(w.agent, auth_id, {}, quick(), w.options()), success,
                 completion::done, 1);
  w.agent.install(policy_kind::main_mode, mm);
  native_filter f;
  f.kind = filter_kind::main_mode;
  f.id = filter_id;
  f.policy = mm;
  f.auth_methods = auth_id;
  w.agent.install_filter(f);
  expect_failure(ipsec::delete_mm_auth_methods(w.agent, auth_id, quick(), w.options()), 13012,
                 ir::stop_reason::permanent_error, 1);
}

// ---------------------------------------------------------------------------------------------
// Call sites: one per operation, with its default policy.

TEST(ObjectSites, EveryOperationHasANamedSiteWithItsDefaultPolicy) {
  struct row {
    object_kind object;
    agent_operation op;
    const char* name;
    bool waits;
  };
  const row rows[] = {
      {object_kind::qm_policy, agent_operation::remove, "qm.delete", true},
      {object_kind::mm_auth_methods, agent_operation::add, "mm_auth.add", false},
      {object_kind::mm_auth_methods, agent_operation::remove, "mm_auth.delete", true},
      {object_kind::transport_filter, agent_operation::add, "transport_filter.add", true},
      {object_kind::transport_filter, agent_operation::open, "transport_filter.open", true},
      {object_kind::transport_filter, agent_operation::set, "transport_filter.set", false},
      {object_kind::transport_filter, agent_operation::remove, "transport_filter.delete", false},
      {object_kind::tunnel_filter, agent_operation::close, "tunnel_filter.close", false},
      {object_kind::mm_filter, agent_operation::open, "mm_filter.open", true},
  };
  const ipsec::call_site_registry sites;
  for (const row& r : rows) {
    SCOPED_TRACE(r.name);
    EXPECT_EQ(ipsec::site_name(r.object, r.op), r.name);
    const auto site = sites.site(r.name);
    ASSERT_TRUE(site) << site.error().message();
    EXPECT_EQ(site.value().policy, ipsec::builtin_policy(r.object, r.op));
    EXPECT_EQ(ipsec::builtin_policy(r.object, r.op).settings().timeout,
              r.waits ? std::chrono::seconds(60) : std::chrono::seconds(30));
  }
  EXPECT_EQ(ipsec::site_name(object_kind::qm_policy, agent_operation::open), "");
}
