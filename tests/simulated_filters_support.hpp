// SPDX-License-Identifier: BSL-1.0
// What the simulated filter tests share: the filter kinds with their codes, the ids and names
// they use, and a rig (an agent in virtual time, its default client A and two more, B and C)
// that builds the world a rule starts from.
#pragma once

#include "ipsec_test_support.hpp"

#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <cstdint>

namespace filter_test {

using namespace ipsec_test;
using ipsec::agent_handle;
using ipsec::filter_kind;
using ipsec::native_filter;
using state = simulated_agent::state;

inline constexpr std::uint32_t invalid_handle = 6;

// A kind of filter, the policy kind it references, and every code the rules use for both.
struct filter_case {
  const char* label;
  filter_kind kind;
  policy_kind policy;
  std::uint32_t exists, not_found, pending;                                      // the filter's
  std::uint32_t policy_exists, policy_not_found, policy_in_use, policy_pending;  // its policy's
};
inline constexpr filter_case filter_kinds[] = {
    {"transport", filter_kind::transport, policy_kind::quick_mode, 13008, 13009, 13019, 13000,
     13001, 13002, 13023},
    {"tunnel", filter_kind::tunnel, policy_kind::quick_mode, 13016, 13017, 13020, 13000, 13001,
     13002, 13023},
    {"MM", filter_kind::main_mode, policy_kind::main_mode, 13006, 13007, 13018, 13003, 13004, 13005,
     13021},
};
// ERROR_IPSEC_MM_AUTH_EXISTS, _IN_USE (_NOT_FOUND and _PENDING_DELETION: ipsec_test_support).
inline constexpr std::uint32_t mm_auth_exists = 13010, mm_auth_in_use = 13012;

inline const ipsec::guid filter_id{0xF1, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
inline const ipsec::guid auth_id{0xA7, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
inline constexpr const wchar_t* policy_name = L"corp-filter-policy";

inline native_filter filter_of(const filter_case& k, const ipsec::guid& id = filter_id) {
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

}  // namespace filter_test
