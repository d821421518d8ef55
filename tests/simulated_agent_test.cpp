// SPDX-License-Identifier: BSL-1.0
// ipsec/simulated_agent.hpp: the simulated Policy Agent (docs/simulator.md), every modelled
// behaviour for QM and MM, in virtual time; the multi-threaded tests also run under TSan.
#include "ipsec_test_support.hpp"

#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

using namespace ipsec_test;

// ---------------------------------------------------------------------------------------------
// simulated_agent: every modelled behaviour, for QM and MM.

class SimulatedAgent : public ::testing::TestWithParam<kind_case> {};
INSTANTIATE_TEST_SUITE_P(Kinds, SimulatedAgent, ::testing::ValuesIn(kinds), kind_label);

TEST_P(SimulatedAgent, WhilePendingDeletionEveryOperationGetsPendingDeletion) {
  const kind_case k = GetParam();
  world w;
  w.agent.begin_deletion(k.kind, name, w.at(100ms));
  for (nanoseconds t : std::initializer_list<nanoseconds>{0ns, 50ms, 100ms - 1ns}) {
    w.time.set(w.at(t));
    for (agent_op op : all_ops) {
      EXPECT_EQ(call(w.agent, op, k.kind, name), k.pending) << label(op) << " at " << t.count();
      EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
    }
  }
  EXPECT_EQ(w.agent.calls(), 12u);
}

TEST_P(SimulatedAgent, OnceDeletionCompletesSetDeleteGetAreNotFoundAndAddSucceeds) {
  const kind_case k = GetParam();
  struct row {
    agent_op op;
    std::uint32_t expected;
    simulated_agent::state after;
  };
  const row rows[] = {
      {agent_op::set, k.not_found, simulated_agent::state::absent},
      {agent_op::remove, k.not_found, simulated_agent::state::absent},
      {agent_op::get, k.not_found, simulated_agent::state::absent},
      {agent_op::add, success, simulated_agent::state::active},
  };
  // Exactly at the completion time the deletion has completed; later too.
  for (nanoseconds t : std::initializer_list<nanoseconds>{100ms, 100ms + 1ns, 10s}) {
    for (const row& r : rows) {
      world w;
      w.agent.begin_deletion(k.kind, name, w.at(100ms));
      w.time.set(w.at(t));
      EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
      EXPECT_EQ(call(w.agent, r.op, k.kind, name), r.expected)
          << label(r.op) << " at " << t.count();
      EXPECT_EQ(w.agent.state_of(k.kind, name), r.after) << label(r.op);
    }
  }
}

TEST_P(SimulatedAgent, DeleteOfAnInUsePolicyIsPendingForTheDeletionTime) {
  const kind_case k = GetParam();
  world w(250ms);
  w.time.set(w.at(1s));
  w.agent.install(k.kind, name, /*in_use_by_sas=*/true);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
  w.time.set(w.at(1250ms - 1ns));
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.pending);
  EXPECT_EQ(call(w.agent, agent_op::set, k.kind, name), k.pending);
  w.time.set(w.at(1250ms));
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.not_found);
}

TEST_P(SimulatedAgent, SetInUseAndSetDeletionTimeShapeTheNextDeletion) {
  const kind_case k = GetParam();
  world w(250ms);
  w.agent.install(k.kind, name, /*in_use_by_sas=*/false);
  w.agent.set_in_use(k.kind, name, true);
  w.agent.set_deletion_time(2s);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  w.time.set(w.at(2s - 1ns));
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
  w.time.set(w.at(2s));
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);

  // In use, then no longer: removed at once.
  w.agent.install(k.kind, name, /*in_use_by_sas=*/true);
  w.agent.set_in_use(k.kind, name, false);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);

  // set_in_use on an absent policy creates nothing.
  w.agent.set_in_use(k.kind, L"never", true);
  EXPECT_EQ(w.agent.state_of(k.kind, L"never"), simulated_agent::state::absent);
  EXPECT_EQ(call(w.agent, agent_op::get, k.kind, L"never"), k.not_found);
}

TEST_P(SimulatedAgent, DeleteOfAPolicyNotInUseRemovesItAtOnce) {
  const kind_case k = GetParam();
  world w;
  w.agent.install(k.kind, name);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.not_found);
  EXPECT_EQ(call(w.agent, agent_op::add, k.kind, name), success);
  // A policy the agent added is not in use by SAs: its deletion is immediate too.
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
}

TEST_P(SimulatedAgent, ActiveAndAbsentPolicies) {
  const kind_case k = GetParam();
  world w;
  struct row {
    agent_op op;
    std::uint32_t on_active;
    std::uint32_t on_absent;
  };
  const row rows[] = {
      {agent_op::add, k.exists, success},
      {agent_op::set, success, k.not_found},
      {agent_op::get, success, k.not_found},
  };
  for (const row& r : rows) {
    w.agent.install(k.kind, name);
    EXPECT_EQ(call(w.agent, r.op, k.kind, name), r.on_active) << label(r.op);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active) << label(r.op);
  }
  for (const row& r : rows) {
    world fresh;
    EXPECT_EQ(call(fresh.agent, r.op, k.kind, L"never"), r.on_absent) << label(r.op);
  }
  // Add twice: the second sees the first.
  EXPECT_EQ(call(w.agent, agent_op::add, k.kind, L"new"), success);
  EXPECT_EQ(call(w.agent, agent_op::add, k.kind, L"new"), k.exists);
}

TEST_P(SimulatedAgent, InstallReplacesAPendingDeletion) {
  const kind_case k = GetParam();
  world w;
  w.agent.begin_deletion(k.kind, name, w.at(1h));
  w.agent.install(k.kind, name);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active);
  EXPECT_EQ(call(w.agent, agent_op::set, k.kind, name), success);
}

TEST_P(SimulatedAgent, NamesAndKindsAreIndependent) {
  const kind_case k = GetParam();
  const policy_kind other =
      k.kind == policy_kind::quick_mode ? policy_kind::main_mode : policy_kind::quick_mode;
  world w;
  w.agent.begin_deletion(k.kind, L"a", w.at(1s));
  w.agent.install(k.kind, L"b");
  EXPECT_EQ(call(w.agent, agent_op::set, k.kind, L"a"), k.pending);
  EXPECT_EQ(call(w.agent, agent_op::set, k.kind, L"b"), success);
  EXPECT_EQ(w.agent.state_of(other, L"a"), simulated_agent::state::absent);
  EXPECT_EQ(call(w.agent, agent_op::add, other, L"a"), success);
  EXPECT_EQ(w.agent.state_of(k.kind, L"a"), simulated_agent::state::pending_deletion);
}

TEST_P(SimulatedAgent, InjectHitsExactlyCallNAndLeavesStateUntouched) {
  const kind_case k = GetParam();
  for (agent_op op : all_ops) {
    SCOPED_TRACE(label(op));
    // Active, in use: without the fault, call 2 would succeed (and a delete would start a
    // pending deletion, an add would get EXISTS).
    world w;
    w.agent.install(k.kind, name, /*in_use_by_sas=*/true);
    w.agent.inject(2, ir::win32_error{rpc_call_failed});
    EXPECT_EQ(call(w.agent, agent_op::get, k.kind, name), success);
    EXPECT_EQ(call(w.agent, op, k.kind, name), rpc_call_failed);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active);
    EXPECT_EQ(call(w.agent, agent_op::get, k.kind, name), success);
    EXPECT_EQ(w.agent.calls(), 3u);
  }
  {
    // An injected success creates nothing; a fault on a pending policy does not settle it.
    world w;
    w.agent.inject(1, ir::win32_error::success);
    EXPECT_EQ(call(w.agent, agent_op::add, k.kind, name), success);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
    EXPECT_EQ(call(w.agent, agent_op::add, k.kind, name), success);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active);
  }
  {
    world w;
    w.agent.begin_deletion(k.kind, name, w.at(1s));
    w.agent.inject(1, ir::win32_error{access_denied});
    w.agent.inject(3, ir::win32_error{access_denied});
    EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), access_denied);
    EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.pending);
    EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), access_denied);
    EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.pending);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
  }
}

TEST(SimulatedAgent, ALaterInjectForTheSameCallWins) {
  world w;
  w.agent.install(policy_kind::quick_mode, name);
  w.agent.inject(1, ir::win32_error{access_denied});
  w.agent.inject(1, ir::win32_error{rpc_call_failed});
  EXPECT_EQ(call(w.agent, agent_op::set, policy_kind::quick_mode, name), rpc_call_failed);
  EXPECT_EQ(call(w.agent, agent_op::set, policy_kind::quick_mode, name), success);
}

namespace {
// A clock that counts its readings (docs/simulator.md: read once per non-injected call).
struct counting_clock {
  const ir::virtual_time* time;
  std::atomic<int>* reads;
  ir::time_point now() {
    reads->fetch_add(1);
    return time->now();
  }
};
}  // namespace

TEST(SimulatedAgent, ReadsTheClockOncePerCallAndNotForInjectedOnes) {
  ir::virtual_time time;
  std::atomic<int> reads{0};
  simulated_agent agent(counting_clock{&time, &reads});
  agent.install(policy_kind::quick_mode, name);
  agent.inject(2, ir::win32_error{access_denied});
  EXPECT_EQ(u(agent.set_policy(policy_kind::quick_mode, name, {})), success);
  EXPECT_EQ(u(agent.set_policy(policy_kind::quick_mode, name, {})), access_denied);
  EXPECT_EQ(u(agent.get_policy(policy_kind::quick_mode, name)), success);
  EXPECT_EQ(reads.load(), 2);
}

// Regression: now + deletion_time overflowed for a huge deletion_time, so a deletion meant to
// last "forever" completed at once.
TEST(SimulatedAgent, HugeDeletionTimeSaturatesInsteadOfOverflowing) {
  world w(nanoseconds::max());
  w.time.set(w.at(1s));
  w.agent.install(policy_kind::quick_mode, name, /*in_use_by_sas=*/true);
  EXPECT_EQ(call(w.agent, agent_op::remove, policy_kind::quick_mode, name), success);
  w.time.advance(24h * 365);
  EXPECT_EQ(w.agent.state_of(policy_kind::quick_mode, name),
            simulated_agent::state::pending_deletion);
  EXPECT_EQ(call(w.agent, agent_op::add, policy_kind::quick_mode, name), qm_pending);
}

TEST(SimulatedAgent, CallsCountsAgentCallsOnlyAcrossKindsAndAuthMethods) {
  world w;
  const ipsec::guid id{1, 2, 3, {4, 5, 6, 7, 8, 9, 10, 11}};
  // Setup and inspection: not agent calls.
  w.agent.install(policy_kind::quick_mode, L"q", true);
  w.agent.install(policy_kind::main_mode, L"m");
  w.agent.begin_deletion(policy_kind::quick_mode, L"p", w.at(1s));
  w.agent.set_in_use(policy_kind::main_mode, L"m", true);
  w.agent.set_deletion_time(1s);
  w.agent.install_mm_auth_methods(id);
  w.agent.inject(100, ir::win32_error{access_denied});
  (void)w.agent.state_of(policy_kind::quick_mode, L"q");
  EXPECT_EQ(w.agent.calls(), 0u);

  (void)w.agent.add_policy(policy_kind::quick_mode, L"x", {});
  (void)w.agent.set_policy(policy_kind::main_mode, L"m", {});
  (void)w.agent.delete_policy(policy_kind::quick_mode, L"p");
  (void)w.agent.get_policy(policy_kind::main_mode, L"nope");
  (void)w.agent.delete_mm_auth_methods(id);
  EXPECT_EQ(w.agent.calls(), 5u);
}

TEST(SimulatedAgent, MmAuthMethodsByGuid) {
  world w(300ms);
  const ipsec::guid unused{0xA1, 0xB2, 0xC3, {1, 2, 3, 4, 5, 6, 7, 8}};
  const ipsec::guid used{0xA1, 0xB2, 0xC3, {1, 2, 3, 4, 5, 6, 7, 9}};  // differs in the last byte
  const ipsec::guid never{0xA1, 0xB2, 0xC4, {1, 2, 3, 4, 5, 6, 7, 8}};
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(never)), mm_auth_not_found);

  w.agent.install_mm_auth_methods(unused);
  w.agent.install_mm_auth_methods(used, /*in_use_by_sas=*/true);
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(unused)), success);  // removed at once
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(unused)), mm_auth_not_found);

  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(used)), success);  // pending for 300 ms
  w.time.set(w.at(300ms - 1ns));
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(used)), mm_auth_pending);
  w.time.set(w.at(300ms));
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(used)), mm_auth_not_found);

  // Auth methods are not MM policies, even under a name-like key.
  EXPECT_EQ(w.agent.state_of(policy_kind::main_mode, L"000000a100b200c30102030405060708"),
            simulated_agent::state::absent);
  // Faults apply to auth calls too, and leave them in place.
  w.agent.install_mm_auth_methods(unused);
  w.agent.inject(w.agent.calls() + 1, ir::win32_error{rpc_call_failed});
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(unused)), rpc_call_failed);
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(unused)), success);
}

TEST(SimulatedAgent, WorksThroughThePolicyAgentInterface) {
  world w;
  ipsec::policy_agent& agent = w.agent;
  w.agent.begin_deletion(policy_kind::quick_mode, name, w.at(10ms));
  EXPECT_EQ(u(agent.add_policy(policy_kind::quick_mode, name, {})), qm_pending);
  w.time.advance(10ms);
  EXPECT_EQ(u(agent.add_policy(policy_kind::quick_mode, name, {})), success);
  EXPECT_EQ(u(agent.get_policy(policy_kind::quick_mode, name)), success);
}

// ---------------------------------------------------------------------------------------------
// Threads (also run under TSan).

TEST(SimulatedAgentThreads, ConcurrentCallsKeepCountsAndCodesLegal) {
  constexpr int threads = 8;
  constexpr int calls_per_thread = 1500;
  constexpr std::uint32_t injected = 1818;  // RPC_S_CALL_CANCELLED, never a modelled code
  ir::virtual_time time;
  simulated_agent agent(time.clock(), 3ms);
  const std::wstring names[] = {L"a", L"b", L"c"};
  std::uint64_t injections = 0;
  for (std::uint64_t n = 7; n <= std::uint64_t{threads} * calls_per_thread; n += 97) {
    agent.inject(n, ir::win32_error{injected});
    ++injections;
  }

  std::atomic<bool> done{false};
  std::atomic<int> illegal{0};
  std::atomic<std::uint64_t> made{0};
  std::atomic<std::uint64_t> injected_seen{0};
  std::thread ticker([&] {
    while (!done.load(std::memory_order_acquire)) {
      time.advance(1ms);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint32_t rng = 0x9E3779B9u * static_cast<std::uint32_t>(t + 1);
      for (int i = 0; i < calls_per_thread; ++i) {
        rng = rng * 1664525u + 1013904223u;
        const kind_case& k = kinds[(rng >> 8) & 1u];
        const std::wstring& n = names[(rng >> 9) % 3u];
        const auto op = all_ops[(rng >> 12) % 4u];
        if (((rng >> 16) & 7u) == 0) agent.set_in_use(k.kind, n, true);  // setup: not counted
        const std::uint32_t code = call(agent, op, k.kind, n);
        made.fetch_add(1, std::memory_order_relaxed);
        if (code == injected) {
          injected_seen.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        const bool legal = code == success || code == k.pending ||
                           (op == agent_op::add ? code == k.exists : code == k.not_found);
        if (!legal) illegal.fetch_add(1, std::memory_order_relaxed);
        (void)agent.state_of(k.kind, n);
      }
    });
  }
  for (auto& w : workers) w.join();
  done.store(true, std::memory_order_release);
  ticker.join();

  EXPECT_EQ(made.load(), std::uint64_t{threads} * calls_per_thread);
  EXPECT_EQ(agent.calls(), made.load());
  EXPECT_EQ(illegal.load(), 0);
  EXPECT_EQ(injected_seen.load(), injections) << "each injected call number hit exactly once";
}
