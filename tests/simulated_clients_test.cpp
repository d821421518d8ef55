// SPDX-License-Identifier: BSL-1.0
// ipsec/simulated_agent.hpp: the simulated agent's clients (docs/simulator.md, "Clients"):
// handle ownership, RPC rundown, holds in virtual time, faults across clients, the recording
// agent over a client, and clients on threads (also run under TSan).
#include "simulated_filters_support.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

using namespace filter_test;

TEST(SimulatedClients, HandlesBelongToTheClientThatReceivedThem) {
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

TEST(SimulatedClients, DisconnectRunsDownEveryHandleOfThatClientOnly) {
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

TEST(SimulatedClients, TheDefaultClientCanBeRunDownToo) {
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

TEST(SimulatedClients, ClientsOfAnotherAgentAreRefused) {
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
TEST(SimulatedClients, HoldUntilClosesTheHandleAtThatVirtualTime) {
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

TEST(SimulatedClients, AHoldOnAHandleClosedEarlierDoesNothing) {
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

TEST(SimulatedClients, FaultsCountEveryClientsCallsAndChangeNothing) {
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

TEST(SimulatedClients, TheRecordingAgentForwardsAndRecordsFilterCalls) {
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

TEST(SimulatedClientsThreads, ClientsRacingOnTheSameFiltersKeepTheRules) {
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
