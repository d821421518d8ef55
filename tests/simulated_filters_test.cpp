// SPDX-License-Identifier: BSL-1.0
// ipsec/simulated_agent.hpp: the reference-counting rules (docs/simulator.md, "Filters and
// handles"): one table row per rule, for each kind of filter, and the handles a client may not
// use. Clients, rundown, holds, faults and threads: simulated_clients_test.cpp.
#include "simulated_filters_support.hpp"

#include <cstdint>
#include <string>

using namespace filter_test;

namespace {

enum class target { policy, auth, filter };
enum class op { add, set, remove, open, close };
// Expected codes by role, resolved for the row's filter kind.
enum class code {
  success,
  filter_exists,
  filter_not_found,
  filter_pending,
  policy_not_found,
  policy_in_use,
  policy_pending,
  auth_exists,
  auth_not_found,
  auth_in_use,
  auth_pending
};
enum class ref { no, yes };  // whether a filter references the policy afterwards

std::uint32_t resolve(code c, const filter_case& k) {
  switch (c) {
    case code::success:
      return success;
    case code::filter_exists:
      return k.exists;
    case code::filter_not_found:
      return k.not_found;
    case code::filter_pending:
      return k.pending;
    case code::policy_not_found:
      return k.policy_not_found;
    case code::policy_in_use:
      return k.policy_in_use;
    case code::policy_pending:
      return k.policy_pending;
    case code::auth_exists:
      return mm_auth_exists;
    case code::auth_not_found:
      return mm_auth_not_found;
    case code::auth_in_use:
      return mm_auth_in_use;
    case code::auth_pending:
      return mm_auth_pending;
  }
  return ~0u;
}

struct rule {
  const char* name;
  bool mm_only;  // auth methods: only MM filters reference them
  target what;
  op operation;  // by client A; set, remove and close on a filter go through A's handle
  pre before;
  code expected;
  state target_after;         // of the policy, the auth methods or the filter
  std::size_t handles_after;  // open on the filter
  ref policy_referenced_after;
};

// One row per rule of docs/simulator.md's table, in its order.
constexpr rule rules[] = {
    // Policies (the filter's kind: QM for transport and tunnel, MM for MM).
    {"policy delete, referenced by an active filter: IN_USE", false, target::policy, op::remove,
     pre::filter_no_handle, code::policy_in_use, state::active, 0, ref::yes},
    {"policy delete, referenced by a filter pending deletion: IN_USE", false, target::policy,
     op::remove, pre::pending_a, code::policy_in_use, state::active, 1, ref::yes},
    {"policy delete, unreferenced: removed at once", false, target::policy, op::remove, pre::refs,
     code::success, state::absent, 0, ref::no},
    {"policy delete, unreferenced but in use by SAs: pending deletion", false, target::policy,
     op::remove, pre::refs_in_use, code::success, state::pending_deletion, 0, ref::no},
    {"policy delete after its filter was deleted: removed", false, target::policy, op::remove,
     pre::filter_removed, code::success, state::absent, 0, ref::no},
    {"policy delete after a pending filter's last handle closed: removed", false, target::policy,
     op::remove, pre::pending_released, code::success, state::absent, 0, ref::no},
    // MM auth methods.
    {"auth add, absent: created", true, target::auth, op::add, pre::no_auth, code::success,
     state::active, 0, ref::no},
    {"auth add, exists: EXISTS", true, target::auth, op::add, pre::refs, code::auth_exists,
     state::active, 0, ref::no},
    {"auth add, pending deletion: PENDING_DELETION", true, target::auth, op::add, pre::auth_pending,
     code::auth_pending, state::pending_deletion, 0, ref::no},
    {"auth set, absent: NOT_FOUND", true, target::auth, op::set, pre::no_auth, code::auth_not_found,
     state::absent, 0, ref::no},
    {"auth set, exists: 0", true, target::auth, op::set, pre::refs, code::success, state::active, 0,
     ref::no},
    {"auth set, pending deletion: PENDING_DELETION", true, target::auth, op::set, pre::auth_pending,
     code::auth_pending, state::pending_deletion, 0, ref::no},
    {"auth delete, referenced by an active filter: IN_USE", true, target::auth, op::remove,
     pre::filter_a, code::auth_in_use, state::active, 1, ref::yes},
    {"auth delete, referenced by a filter pending deletion: IN_USE", true, target::auth, op::remove,
     pre::pending_a, code::auth_in_use, state::active, 1, ref::yes},
    {"auth delete, unreferenced: removed at once", true, target::auth, op::remove, pre::refs,
     code::success, state::absent, 0, ref::no},
    // Add filter.
    {"filter add, its policy absent: the policy's NOT_FOUND", false, target::filter, op::add,
     pre::no_policy, code::policy_not_found, state::absent, 0, ref::no},
    {"filter add, its policy pending deletion: the policy's PENDING_DELETION", false,
     target::filter, op::add, pre::policy_pending, code::policy_pending, state::absent, 0, ref::no},
    {"MM filter add, its auth methods absent: MM_AUTH_NOT_FOUND", true, target::filter, op::add,
     pre::no_auth, code::auth_not_found, state::absent, 0, ref::no},
    {"MM filter add, its auth methods pending deletion: MM_AUTH_PENDING_DELETION", true,
     target::filter, op::add, pre::auth_pending, code::auth_pending, state::absent, 0, ref::no},
    {"filter add, the same id active: EXISTS", false, target::filter, op::add, pre::filter_a,
     code::filter_exists, state::active, 1, ref::yes},
    {"filter add, the same id pending deletion: EXISTS", false, target::filter, op::add,
     pre::pending_a, code::filter_exists, state::pending_deletion, 1, ref::yes},
    {"filter add, absent: created, a handle returned", false, target::filter, op::add, pre::refs,
     code::success, state::active, 1, ref::yes},
    {"filter add after the same id was deleted: created", false, target::filter, op::add,
     pre::filter_removed, code::success, state::active, 1, ref::yes},
    // Open.
    {"filter open, active: another handle", false, target::filter, op::open, pre::filter_a,
     code::success, state::active, 2, ref::yes},
    {"filter open, active with no handle open: a handle", false, target::filter, op::open,
     pre::filter_no_handle, code::success, state::active, 1, ref::yes},
    {"filter open, pending deletion: PENDING_DELETION", false, target::filter, op::open,
     pre::pending_a, code::filter_pending, state::pending_deletion, 1, ref::yes},
    {"filter open, absent: NOT_FOUND", false, target::filter, op::open, pre::refs,
     code::filter_not_found, state::absent, 0, ref::no},
    // Set through A's handle.
    {"filter set, active: 0", false, target::filter, op::set, pre::filter_a, code::success,
     state::active, 1, ref::yes},
    {"filter set, pending deletion: PENDING_DELETION", false, target::filter, op::set,
     pre::pending_a, code::filter_pending, state::pending_deletion, 1, ref::yes},
    // Delete through A's handle.
    {"filter delete, no other handle: removed", false, target::filter, op::remove, pre::filter_a,
     code::success, state::absent, 0, ref::no},
    {"filter delete, another client's handle open: pending deletion", false, target::filter,
     op::remove, pre::filter_a_b, code::success, state::pending_deletion, 1, ref::yes},
    {"filter delete, already pending, other handles open: still pending", false, target::filter,
     op::remove, pre::pending_a_b, code::success, state::pending_deletion, 1, ref::yes},
    {"filter delete, already pending, the last handle: removed", false, target::filter, op::remove,
     pre::pending_a, code::success, state::absent, 0, ref::no},
    // Close A's handle.
    {"filter close, active: the filter stays", false, target::filter, op::close, pre::filter_a,
     code::success, state::active, 0, ref::yes},
    {"filter close, pending deletion, other handles open: still pending", false, target::filter,
     op::close, pre::pending_a_b, code::success, state::pending_deletion, 1, ref::yes},
    {"filter close, pending deletion, the last handle: removed", false, target::filter, op::close,
     pre::pending_a, code::success, state::absent, 0, ref::no},
};

std::uint32_t run(rig& r, target what, op o, agent_handle& opened) {
  simulated_agent::client& a = r.a;
  const filter_kind fk = r.k.kind;
  switch (what) {
    case target::policy:
      switch (o) {
        case op::add:
          return u(a.add_policy(r.k.policy, policy_name, {}));
        case op::set:
          return u(a.set_policy(r.k.policy, policy_name, {}));
        case op::remove:
          return u(a.delete_policy(r.k.policy, policy_name));
        default:
          return ~0u;
      }
    case target::auth:
      switch (o) {
        case op::add:
          return u(a.add_mm_auth_methods(auth_id, {}));
        case op::set:
          return u(a.set_mm_auth_methods(auth_id, {}));
        case op::remove:
          return u(a.delete_mm_auth_methods(auth_id));
        default:
          return ~0u;
      }
    case target::filter:
      switch (o) {
        case op::add:
          return u(a.add_filter(r.f, opened));
        case op::open:
          return u(a.open_filter(r.f, opened));
        case op::set:
          return u(a.set_filter(fk, r.ha, r.f));
        case op::remove:
          return u(a.delete_filter(fk, r.ha));
        case op::close:
          return u(a.close_filter(fk, r.ha));
      }
  }
  return ~0u;
}

}  // namespace

class FilterRules : public ::testing::TestWithParam<filter_case> {};
INSTANTIATE_TEST_SUITE_P(Kinds, FilterRules, ::testing::ValuesIn(filter_kinds),
                         [](const auto& p) { return std::string(p.param.label); });

TEST_P(FilterRules, EachRuleGivesItsCodeAndState) {
  const filter_case& k = GetParam();
  for (const rule& row : rules) {
    if (row.mm_only && k.kind != filter_kind::main_mode) continue;
    SCOPED_TRACE(row.name);
    rig r(k);
    r.prepare(row.before);
    const std::size_t a_handles_before = r.agent.open_handles(r.a);
    agent_handle opened{};
    EXPECT_EQ(run(r, row.what, row.operation, opened), resolve(row.expected, k));

    switch (row.what) {
      case target::policy:
        EXPECT_EQ(r.agent.state_of(k.policy, policy_name), row.target_after);
        break;
      case target::auth:
        EXPECT_EQ(r.agent.state_of(auth_id), row.target_after);
        break;
      case target::filter:
        EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), row.target_after);
        break;
    }
    EXPECT_EQ(r.agent.open_handles(k.kind, filter_id), row.handles_after);
    EXPECT_EQ(r.agent.referenced(k.policy, policy_name), row.policy_referenced_after == ref::yes);
    if (k.kind == filter_kind::main_mode) {
      EXPECT_EQ(r.agent.referenced(auth_id), row.policy_referenced_after == ref::yes);
    }
    // Add and Open hand A a handle exactly when they succeed; a failed call leaves it alone.
    const bool opens =
        row.what == target::filter && (row.operation == op::add || row.operation == op::open);
    const bool got_one = opens && row.expected == code::success;
    EXPECT_EQ(static_cast<bool>(opened), got_one);
    if (got_one) {
      EXPECT_EQ(r.agent.open_handles(r.a), a_handles_before + 1);
      EXPECT_EQ(u(r.a.set_filter(k.kind, opened, r.f)), success) << "the new handle is A's";
    }
  }
}

TEST_P(FilterRules, AHandleThatIsNotThisClientsOpenHandleOfThatKindIsInvalid) {
  const filter_case& k = GetParam();
  const filter_kind other_kind =
      k.kind == filter_kind::transport ? filter_kind::tunnel : filter_kind::transport;
  struct bad {
    const char* label;
    agent_handle (*pick)(rig&);
    filter_kind kind;
  };
  const bad cases[] = {
      {"another client's", [](rig& r) { return r.hb; }, k.kind},
      {"closed",
       [](rig& r) {
         const agent_handle h = r.agent.install_filter(r.a, r.f);
         EXPECT_EQ(u(r.a.close_filter(r.k.kind, h)), success);
         return h;
       },
       k.kind},
      {"deleted through",
       [](rig& r) {
         const agent_handle h = r.agent.install_filter(r.a, r.f);
         EXPECT_EQ(u(r.a.delete_filter(r.k.kind, h)), success);  // B's keeps the filter
         return h;
       },
       k.kind},
      {"of another kind of filter", [](rig& r) { return r.ha; }, other_kind},
      {"none", [](rig&) { return agent_handle{}; }, k.kind},
      {"never issued", [](rig&) { return agent_handle{0x7777}; }, k.kind},
  };
  for (const bad& c : cases) {
    for (op o : {op::set, op::remove, op::close}) {
      SCOPED_TRACE(c.label);
      rig r(k);
      r.prepare(pre::filter_a_b);
      const agent_handle h = c.pick(r);
      const state before = r.agent.filter_state(k.kind, filter_id);
      const std::size_t handles = r.agent.open_handles(k.kind, filter_id);
      const std::uint32_t got = o == op::set      ? u(r.a.set_filter(c.kind, h, r.f))
                                : o == op::remove ? u(r.a.delete_filter(c.kind, h))
                                                  : u(r.a.close_filter(c.kind, h));
      EXPECT_EQ(got, invalid_handle);
      EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), before) << "nothing changed";
      EXPECT_EQ(r.agent.open_handles(k.kind, filter_id), handles);
    }
  }
}
