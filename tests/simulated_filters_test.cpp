// SPDX-License-Identifier: BSL-1.0
// ipsec/simulated_agent.hpp: the reference-counting rules (docs/simulator.md, "Filters and
// handles"): one table row per rule, for each kind of filter; then handle ownership, RPC
// rundown, holds in virtual time, faults across clients, and clients on threads (TSan-clean).
#include "ipsec_test_support.hpp"

#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

using namespace ipsec_test;
using ipsec::agent_handle;
using ipsec::filter_kind;
using ipsec::native_filter;
using state = simulated_agent::state;

namespace {

constexpr std::uint32_t invalid_handle = 6;

// A kind of filter, the policy kind it references, and every code the rules use for both.
struct filter_case {
  const char* label;
  filter_kind kind;
  policy_kind policy;
  std::uint32_t exists, not_found, pending;                                      // the filter's
  std::uint32_t policy_exists, policy_not_found, policy_in_use, policy_pending;  // its policy's
};
constexpr filter_case filter_kinds[] = {
    {"transport", filter_kind::transport, policy_kind::quick_mode, 13008, 13009, 13019, 13000,
     13001, 13002, 13023},
    {"tunnel", filter_kind::tunnel, policy_kind::quick_mode, 13016, 13017, 13020, 13000, 13001,
     13002, 13023},
    {"MM", filter_kind::main_mode, policy_kind::main_mode, 13006, 13007, 13018, 13003, 13004, 13005,
     13021},
};
// ERROR_IPSEC_MM_AUTH_EXISTS, _IN_USE (_NOT_FOUND and _PENDING_DELETION: ipsec_test_support).
constexpr std::uint32_t mm_auth_exists = 13010, mm_auth_in_use = 13012;

const ipsec::guid filter_id{0xF1, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
const ipsec::guid auth_id{0xA7, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
constexpr const wchar_t* policy_name = L"corp-filter-policy";

native_filter filter_of(const filter_case& k, const ipsec::guid& id = filter_id) {
  return native_filter{k.kind, id, policy_name, auth_id, nullptr, 0};
}

// The world a rule starts from. Client A is the agent's default client; B and C are others.
enum class pre {
  nothing,           // no policy, no auth methods, no filter
  refs,              // the policy and the auth methods exist, no filter
  refs_in_use,       // ... both in use by SAs
  no_policy,         // the auth methods only
  policy_pending,    // the policy in its documented pending deletion; the auth methods exist
  no_auth,           // the policy only
  auth_pending,      // the policy; the auth methods pending deletion
  filter_no_handle,  // refs + an active filter with no handle open
  filter_a,          // refs + an active filter, A holds a handle
  filter_a_b,        // ... A and B hold one each
  pending_a,         // refs + the filter pending deletion (C deleted it), A holds a handle
  pending_a_b,       // ... A and B hold one each
  filter_removed,    // refs; a filter was added and deleted through its only handle
  pending_released,  // pending_a, then A closed its handle
};

struct rig {
  explicit rig(const filter_case& kc) : k(kc), f(filter_of(kc)) {}
  const filter_case& k;
  ir::virtual_time time;
  simulated_agent agent{time.clock()};
  simulated_agent::client& a = agent.default_client();
  simulated_agent::client& b = agent.connect();
  simulated_agent::client& c = agent.connect();
  native_filter f;
  agent_handle ha{}, hb{};

  void deleted_by_c() {
    const agent_handle hc = agent.install_filter(c, f);
    ASSERT_EQ(u(c.delete_filter(k.kind, hc)), success);
  }
  void prepare(pre p) {
    switch (p) {
      case pre::nothing:
        return;
      case pre::refs:
      case pre::filter_no_handle:
      case pre::filter_a:
      case pre::filter_a_b:
      case pre::pending_a:
      case pre::pending_a_b:
      case pre::filter_removed:
      case pre::pending_released:
        agent.install(k.policy, policy_name);
        agent.install_mm_auth_methods(auth_id);
        break;
      case pre::refs_in_use:
        agent.install(k.policy, policy_name, /*in_use_by_sas=*/true);
        agent.install_mm_auth_methods(auth_id, /*in_use_by_sas=*/true);
        return;
      case pre::no_policy:
        agent.install_mm_auth_methods(auth_id);
        return;
      case pre::policy_pending:
        agent.begin_deletion(k.policy, policy_name, time.now() + 1s);
        agent.install_mm_auth_methods(auth_id);
        return;
      case pre::no_auth:
        agent.install(k.policy, policy_name);
        return;
      case pre::auth_pending:
        agent.install(k.policy, policy_name);
        agent.install_mm_auth_methods(auth_id, /*in_use_by_sas=*/true);
        ASSERT_EQ(u(agent.delete_mm_auth_methods(auth_id)), success);  // pending for 500 ms
        return;
    }
    switch (p) {
      case pre::filter_no_handle:
        agent.install_filter(f);
        break;
      case pre::filter_a_b:
      case pre::pending_a_b:
        hb = agent.install_filter(b, f);
        [[fallthrough]];
      case pre::filter_a:
      case pre::pending_a:
      case pre::pending_released:
        ha = agent.install_filter(a, f);
        break;
      case pre::filter_removed:
        deleted_by_c();
        break;
      default:
        break;
    }
    if (p == pre::pending_a || p == pre::pending_a_b || p == pre::pending_released) {
      deleted_by_c();
    }
    if (p == pre::pending_released) {
      ASSERT_EQ(u(a.close_filter(k.kind, ha)), success);
    }
  }
};

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

// ---------------------------------------------------------------------------------------------
// Clients, rundown, holds, faults.

TEST(SimulatedFilters, HandlesBelongToTheClientThatReceivedThem) {
  const filter_case& k = filter_kinds[0];
  rig r(k);
  r.prepare(pre::refs);
  agent_handle mine{};
  ASSERT_EQ(u(r.b.add_filter(r.f, mine)), success);
  EXPECT_EQ(u(r.c.set_filter(k.kind, mine, r.f)), invalid_handle);
  EXPECT_EQ(u(r.agent.delete_filter(k.kind, mine)), invalid_handle) << "the default client's";
  agent_handle theirs{};
  ASSERT_EQ(u(r.c.open_filter(r.f, theirs)), success);
  EXPECT_NE(theirs, mine);
  EXPECT_EQ(r.agent.open_handles(r.b), 1u);
  EXPECT_EQ(r.agent.open_handles(r.c), 1u);
  EXPECT_EQ(r.agent.open_handles(r.a), 0u);
  // C deletes through its own handle: B's handle keeps the filter, and B's Set can never succeed
  // while B holds it.
  EXPECT_EQ(u(r.c.delete_filter(k.kind, theirs)), success);
  EXPECT_EQ(u(r.b.set_filter(k.kind, mine, r.f)), k.pending);
  EXPECT_EQ(u(r.c.close_filter(k.kind, theirs)), invalid_handle) << "Delete consumed it";
  EXPECT_EQ(u(r.b.close_filter(k.kind, mine)), success);
  EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), state::absent);
  EXPECT_EQ(u(r.b.delete_policy(k.policy, policy_name)), success);
}

TEST(SimulatedFilters, DisconnectRunsDownEveryHandleOfThatClientOnly) {
  const filter_case& k = filter_kinds[2];  // MM
  const ipsec::guid second_id{0xF2, 0, 0, {}};
  const native_filter second = filter_of(k, second_id);
  rig r(k);
  r.prepare(pre::refs);
  const agent_handle b1 = r.agent.install_filter(r.b, r.f);
  const agent_handle b2 = r.agent.install_filter(r.b, second);
  const agent_handle c1 = r.agent.install_filter(r.c, r.f);
  ASSERT_EQ(u(r.c.delete_filter(k.kind, c1)), success);  // pending behind B's handle
  EXPECT_EQ(u(r.c.delete_policy(k.policy, policy_name)), k.policy_in_use);

  EXPECT_EQ(r.agent.disconnect(r.b), 2u);
  EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), state::absent) << "its last handle";
  EXPECT_EQ(r.agent.filter_state(k.kind, second_id), state::active) << "a filter outlives handles";
  EXPECT_EQ(r.agent.open_handles(k.kind, second_id), 0u);
  EXPECT_EQ(u(r.b.close_filter(k.kind, b1)), invalid_handle);
  EXPECT_EQ(u(r.b.set_filter(k.kind, b2, second)), invalid_handle);
  // B can bind again: new calls work, new handles are B's.
  agent_handle again{};
  EXPECT_EQ(u(r.b.open_filter(second, again)), success);
  EXPECT_EQ(r.agent.disconnect(r.b), 1u);
  EXPECT_EQ(r.agent.disconnect(r.b), 0u);
  // The second filter still references the policy; once deleted (no handle: removed) it does not.
  EXPECT_EQ(u(r.c.delete_policy(k.policy, policy_name)), k.policy_in_use);
  agent_handle h{};
  ASSERT_EQ(u(r.c.open_filter(second, h)), success);
  ASSERT_EQ(u(r.c.delete_filter(k.kind, h)), success);
  EXPECT_EQ(u(r.c.delete_policy(k.policy, policy_name)), success);
  EXPECT_EQ(u(r.c.delete_mm_auth_methods(auth_id)), success);
}

TEST(SimulatedFilters, TheDefaultClientCanBeRunDownToo) {
  const filter_case& k = filter_kinds[1];
  rig r(k);
  r.prepare(pre::refs);
  agent_handle h{};
  ASSERT_EQ(u(r.agent.add_filter(r.f, h)), success);
  const agent_handle hb = r.agent.install_filter(r.b, r.f);
  ASSERT_EQ(u(r.b.delete_filter(k.kind, hb)), success);
  EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), state::pending_deletion);
  EXPECT_EQ(r.agent.disconnect(r.agent.default_client()), 1u);
  EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), state::absent);
  EXPECT_EQ(u(r.agent.close_filter(k.kind, h)), invalid_handle);
}

TEST(SimulatedFilters, ClientsOfAnotherAgentAreRefused) {
  const filter_case& k = filter_kinds[0];
  rig r(k);
  rig other(k);
  r.prepare(pre::filter_a_b);
  EXPECT_FALSE(r.agent.install_filter(other.b, r.f));
  EXPECT_FALSE(r.agent.hold_until(other.b, r.hb, r.time.now()));
  EXPECT_EQ(r.agent.disconnect(other.b), 0u);
  EXPECT_EQ(r.agent.open_handles(other.b), 0u);
  EXPECT_EQ(r.agent.open_handles(k.kind, filter_id), 2u);
}

// A typical race in virtual time: B finishes with the filter at 300 ms; meanwhile A deletes
// the filter and retries the policy's Delete, which is IN_USE until B's handle closes.
TEST(SimulatedFilters, HoldUntilClosesTheHandleAtThatVirtualTime) {
  for (const filter_case& k : filter_kinds) {
    SCOPED_TRACE(k.label);
    rig r(k);
    r.prepare(pre::filter_a_b);
    EXPECT_TRUE(r.agent.hold_until(r.b, r.hb, r.time.now() + 300ms));
    EXPECT_FALSE(r.agent.hold_until(r.b, r.ha, r.time.now() + 1ms)) << "A's handle, not B's";
    ASSERT_EQ(u(r.a.delete_filter(k.kind, r.ha)), success);
    std::vector<std::uint32_t> codes;
    for (int i = 0; i < 4; ++i) {
      codes.push_back(u(r.a.delete_policy(k.policy, policy_name)));
      r.time.advance(100ms);
    }
    EXPECT_EQ(codes, (std::vector<std::uint32_t>{k.policy_in_use, k.policy_in_use, k.policy_in_use,
                                                 success}))
        << "settled exactly at 300 ms";
    EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), state::absent);
    EXPECT_EQ(u(r.b.close_filter(k.kind, r.hb)), invalid_handle) << "B closed it";
  }
}

TEST(SimulatedFilters, AHoldOnAHandleClosedEarlierDoesNothing) {
  const filter_case& k = filter_kinds[0];
  rig r(k);
  r.prepare(pre::filter_a_b);
  ASSERT_TRUE(r.agent.hold_until(r.b, r.hb, r.time.now() + 10ms));
  ASSERT_EQ(u(r.b.close_filter(k.kind, r.hb)), success);
  agent_handle again{};
  ASSERT_EQ(u(r.b.open_filter(r.f, again)), success);
  r.time.advance(1s);
  EXPECT_EQ(r.agent.open_handles(k.kind, filter_id), 2u) << "A's and B's new one";
  EXPECT_EQ(u(r.b.set_filter(k.kind, again, r.f)), success);
}

TEST(SimulatedFilters, FaultsCountEveryClientsCallsAndChangeNothing) {
  const filter_case& k = filter_kinds[2];
  rig r(k);
  r.prepare(pre::refs);
  const std::uint64_t base = r.agent.calls();
  r.agent.inject(base + 2, ir::win32_error{rpc_call_failed});
  r.agent.inject(base + 4, ir::win32_error::success);
  r.agent.inject(base + 6, ir::win32_error{access_denied});

  agent_handle hb{};
  EXPECT_EQ(u(r.b.add_filter(r.f, hb)), success);  // call 1
  agent_handle hc{};
  EXPECT_EQ(u(r.c.open_filter(r.f, hc)), rpc_call_failed);  // call 2: C gets B's-turn fault
  EXPECT_FALSE(hc) << "a fault returns no handle";
  EXPECT_EQ(u(r.c.open_filter(r.f, hc)), success);  // call 3
  agent_handle ha{};
  EXPECT_EQ(u(r.a.open_filter(r.f, ha)), success);  // call 4: an injected 0 opens nothing
  EXPECT_FALSE(ha);
  EXPECT_EQ(r.agent.open_handles(k.kind, filter_id), 2u);
  EXPECT_EQ(u(r.b.delete_policy(k.policy, policy_name)), k.policy_in_use);  // call 5
  EXPECT_EQ(u(r.b.delete_filter(k.kind, hb)), access_denied);  // call 6: the handle survives
  EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), state::active);
  EXPECT_EQ(u(r.b.delete_filter(k.kind, hb)), success);  // call 7
  EXPECT_EQ(r.agent.filter_state(k.kind, filter_id), state::pending_deletion);
  EXPECT_EQ(r.agent.calls(), base + 7);
}

TEST(SimulatedFilters, TheRecordingAgentForwardsAndRecordsFilterCalls) {
  const filter_case& k = filter_kinds[0];
  rig r(k);
  r.prepare(pre::refs);
  timed_agent timed{r.b, r.time, 5ms};
  agent_handle h{};
  EXPECT_EQ(u(timed.add_filter(r.f, h)), success);
  EXPECT_EQ(u(timed.open_filter(r.f, h)), success);
  EXPECT_EQ(u(timed.set_filter(k.kind, h, r.f)), success);
  EXPECT_EQ(u(timed.close_filter(k.kind, h)), success);
  EXPECT_EQ(u(timed.delete_filter(k.kind, h)), invalid_handle);
  EXPECT_EQ(u(timed.delete_policy(k.policy, policy_name)), k.policy_in_use);
  EXPECT_EQ(u(timed.add_mm_auth_methods(auth_id, {})), mm_auth_exists);
  EXPECT_EQ(u(timed.set_mm_auth_methods(auth_id, {})), success);
  EXPECT_EQ(u(timed.delete_mm_auth_methods(auth_id)), success);
  EXPECT_EQ(u(timed.get_policy(k.policy, policy_name)), success);
  EXPECT_EQ(timed.starts(), ms({0, 5, 10, 15, 20, 25, 30, 35, 40, 45}));
  EXPECT_EQ(r.agent.open_handles(r.b), 1u) << "the calls went to B";
}

// ---------------------------------------------------------------------------------------------
// Clients on threads (also run under TSan): each thread is one client adding, opening,
// setting, deleting and closing the same few filters, and deleting their policy. Afterwards
// every client's handles are its own, and once all have disconnected nothing is pending.

TEST(SimulatedFiltersThreads, ClientsRacingOnTheSameFiltersKeepTheRules) {
  constexpr int threads = 6;
  constexpr int calls_per_thread = 2000;
  const filter_case& k = filter_kinds[0];
  const ipsec::guid ids[] = {{1, 0, 0, {}}, {2, 0, 0, {}}, {3, 0, 0, {}}};
  ir::virtual_time time;
  simulated_agent agent(time.clock());
  agent.install(k.policy, policy_name);
  std::vector<simulated_agent::client*> clients;
  for (int t = 0; t < threads; ++t) clients.push_back(&agent.connect());
  std::atomic<int> illegal{0};
  std::vector<std::size_t> held(threads);

  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      simulated_agent::client& me = *clients[static_cast<std::size_t>(t)];
      std::vector<agent_handle> mine;
      std::uint32_t rng = 0x9E3779B9u * static_cast<std::uint32_t>(t + 1);
      const auto check = [&](bool legal) {
        if (!legal) illegal.fetch_add(1, std::memory_order_relaxed);
      };
      for (int i = 0; i < calls_per_thread; ++i) {
        rng = rng * 1664525u + 1013904223u;
        const native_filter f = filter_of(k, ids[(rng >> 8) % 3u]);
        const std::uint32_t action = (rng >> 12) % 6u;
        if (action <= 1 || mine.empty()) {
          agent_handle h{};
          const std::uint32_t c = action == 0 ? u(me.add_filter(f, h)) : u(me.open_filter(f, h));
          if (c == success) {
            mine.push_back(h);
          } else {
            check(c == k.exists || c == k.not_found || c == k.pending || c == k.policy_not_found);
          }
        } else if (action == 5) {
          const std::uint32_t c = u(me.delete_policy(k.policy, policy_name));
          check(c == success || c == k.policy_in_use || c == k.policy_not_found);
          if (c == success || c == k.policy_not_found) {
            // Put it back; another client may have done so first.
            const std::uint32_t added = u(me.add_policy(k.policy, policy_name, {}));
            check(added == success || added == k.policy_exists);
          }
        } else {
          const std::size_t at = (rng >> 16) % mine.size();
          const agent_handle h = mine[at];
          if (action == 2) {
            const std::uint32_t c = u(me.set_filter(k.kind, h, f));
            check(c == success || c == k.pending);
            continue;
          }
          const std::uint32_t c =
              action == 3 ? u(me.delete_filter(k.kind, h)) : u(me.close_filter(k.kind, h));
          check(c == success);  // an own open handle is always accepted, and consumed
          mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(at));
        }
      }
      held[static_cast<std::size_t>(t)] = mine.size();
    });
  }
  for (auto& w : workers) w.join();

  EXPECT_EQ(illegal.load(), 0);
  std::size_t total = 0;
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(agent.open_handles(*clients[static_cast<std::size_t>(t)]),
              held[static_cast<std::size_t>(t)]);
    total += held[static_cast<std::size_t>(t)];
  }
  std::size_t on_filters = 0;
  for (const auto& id : ids) on_filters += agent.open_handles(k.kind, id);
  EXPECT_EQ(on_filters, total);
  EXPECT_GE(agent.calls(), std::uint64_t{threads} * calls_per_thread);

  for (simulated_agent::client* c : clients) (void)agent.disconnect(*c);
  bool any_active = false;
  for (const auto& id : ids) {
    EXPECT_NE(agent.filter_state(k.kind, id), state::pending_deletion);
    EXPECT_EQ(agent.open_handles(k.kind, id), 0u);
    any_active = any_active || agent.filter_state(k.kind, id) == state::active;
  }
  EXPECT_EQ(agent.referenced(k.policy, policy_name), any_active);
}
