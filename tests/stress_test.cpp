// SPDX-License-Identifier: BSL-1.0
// Stress: many threads retrying at once, sharing policies, the call-site registry and one
// simulated Policy Agent. Bounded in time (virtual time for the retry loops). Run under TSan by
// the tsan preset.
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;

TEST(Stress, ThreadsReplacingPoliciesOnOneAgent) {
  constexpr int threads = 8;
  constexpr int rounds = 150;
  ir::virtual_time vt;  // shared: every thread's sleeps advance it
  ipsec::simulated_agent agent(vt.clock(), 5ms);
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_config("qm.add: initial=1ms, timeout=10s\nqm.delete: initial=1ms"));
  const auto shared_policy = ir::retry_policy::parse("attempts=20, initial=1ms").value();

  std::atomic<std::uint64_t> wrapper_calls{0};
  std::atomic<int> failures{0};
  std::vector<std::jthread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      // Half the threads share one name; the others have their own.
      const std::wstring name = t % 2 == 0 ? L"shared" : L"own-" + std::to_wstring(t);
      const auto add = sites.policy("qm.add").value();
      const auto del = sites.policy("qm.delete").value();
      const auto options = ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()};
      for (int i = 0; i < rounds; ++i) {
        agent.set_in_use(ipsec::policy_kind::quick_mode, name, true);
        auto a = ipsec::add_qm_policy(agent, name, {}, add, options);
        if (a)
          wrapper_calls += a.value().calls;
        else
          wrapper_calls += a.error().calls;
        auto d = ipsec::delete_qm_policy(agent, name, del, options);
        if (d)
          wrapper_calls += d.value().calls;
        else
          wrapper_calls += d.error().calls;
        // Racing on the shared name, an add may meet EXISTS and a delete NOT_FOUND with no
        // pending deletion seen: failures that must carry exactly those codes.
        for (const auto* e : {a ? nullptr : &a.error(), d ? nullptr : &d.error()}) {
          if (e == nullptr) continue;
          ++failures;
          const auto code = static_cast<std::uint32_t>(e->code.value());
          EXPECT_TRUE(code == 13000 || code == 13001) << code;
          EXPECT_EQ(e->reason, ir::stop_reason::permanent_error);
        }
        // A plain retry() sharing one policy value across threads.
        int n = 0;
        auto r = ir::retry(
            shared_policy, [&] { return ++n < 3 ? 1722u : 0u; }, options);
        EXPECT_TRUE(r);
      }
    });
  }
  workers.clear();  // join
  EXPECT_EQ(agent.calls(), wrapper_calls.load())
      << "every call the wrappers made reached the agent";
  EXPECT_LE(failures.load(), threads * rounds * 2);
}

TEST(Stress, RegistryReadersWhileConfigReloads) {
  ipsec::call_site_registry sites;
  const char* a = "qm.delete: attempts=5, timeout=5s\n";
  const char* b = "qm.delete: attempts=9, timeout=9s\n";
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::vector<std::jthread> readers;
  for (int t = 0; t < 6; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const auto p = sites.policy("qm.delete").value();
        const auto attempts = p.settings().attempts.value_or(0);
        const auto timeout = p.settings().timeout.value_or(0s);
        // Never a mix of the two configurations (or of one and the default).
        EXPECT_TRUE((attempts == 5 && timeout == 5s) || (attempts == 9 && timeout == 9s) ||
                    (attempts == 0 && timeout == 60s))
            << attempts << " " << timeout.count();
        ++reads;
      }
    });
  }
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(sites.load_config(i % 2 ? a : b));
  // A slow scheduler (Wine) may not have run any reader yet: keep reloading until one has read.
  for (int i = 0; reads.load() == 0; ++i) ASSERT_TRUE(sites.load_config(i % 2 ? a : b));
  stop = true;
  readers.clear();
  EXPECT_GT(reads.load(), 0);
}
