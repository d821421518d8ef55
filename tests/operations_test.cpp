// SPDX-License-Identifier: BSL-1.0
// ipsec/operations.hpp: the typed QM/MM wrappers, their idempotency rules and completions, and
// the docs/cli.md/docs/simulator.md worked numbers, against the simulated agent in virtual time;
// the multi-threaded test also runs under TSan.
#include "ipsec_test_support.hpp"

#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace ipsec_test;

// ---------------------------------------------------------------------------------------------
// Typed wrappers: default policies, idempotency, completions.

class TypedOperations : public ::testing::TestWithParam<kind_case> {};
INSTANTIATE_TEST_SUITE_P(Kinds, TypedOperations, ::testing::ValuesIn(kinds), kind_label);

TEST_P(TypedOperations, DeleteThatSawPendingTreatsNotFoundAsGone) {
  const kind_case k = GetParam();
  world w;
  w.agent.begin_deletion(k.kind, name, w.at(100ms));
  timed_agent timed{w.agent, w.time};
  const auto r = typed(policy_operation::remove, k.kind, timed, name,
                       policy("initial=10ms, jitter=none"), w.options());
  expect_success(r, k.not_found, completion::gone_after_pending, 5);
  EXPECT_EQ(timed.starts(), ms({0, 10, 30, 70, 150}));
  EXPECT_EQ(w.agent.calls(), 5u);
}

TEST_P(TypedOperations, DeleteOfANeverExistingPolicyIsAFailure) {
  const kind_case k = GetParam();
  world w;
  const auto r = typed(policy_operation::remove, k.kind, w.agent, name,
                       policy("initial=10ms, jitter=none"), w.options());
  expect_failure(r, k.not_found, ir::stop_reason::permanent_error, 1);
  EXPECT_EQ(w.time.sleeps(), 0u);
}

TEST_P(TypedOperations, DeleteOfAnInUsePolicyIsDoneOnTheFirstCall) {
  const kind_case k = GetParam();
  world w;
  w.agent.install(k.kind, name, /*in_use_by_sas=*/true);
  const auto r = typed(policy_operation::remove, k.kind, w.agent, name,
                       policy("initial=10ms, jitter=none"), w.options());
  expect_success(r, success, completion::done, 1);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
}

TEST_P(TypedOperations, SetAfterTheDeletionCompletesIsNotFound) {
  const kind_case k = GetParam();
  {
    world w;  // pending, then gone: NOT_FOUND is no success for a set
    w.agent.begin_deletion(k.kind, name, w.at(100ms));
    const auto r = typed(policy_operation::set, k.kind, w.agent, name,
                         policy("initial=10ms, jitter=none"), w.options());
    expect_failure(r, k.not_found, ir::stop_reason::permanent_error, 5);
    EXPECT_EQ(r.error().elapsed, 150ms);
  }
  {
    world w;  // already gone
    w.agent.begin_deletion(k.kind, name, w.at(0ms));
    const auto r = typed(policy_operation::set, k.kind, w.agent, name,
                         policy("initial=10ms, jitter=none"), w.options());
    expect_failure(r, k.not_found, ir::stop_reason::permanent_error, 1);
  }
}

TEST_P(TypedOperations, AddAfterAnAmbiguousFailureIsNotRetriedByDefault) {
  const kind_case k = GetParam();
  world w;
  w.agent.inject(1, ir::win32_error{rpc_call_failed});
  const auto r = typed(policy_operation::add, k.kind, w.agent, name,
                       policy("initial=10ms, jitter=none"), w.options());
  expect_failure(r, rpc_call_failed, ir::stop_reason::permanent_error, 1);
  EXPECT_EQ(w.agent.calls(), 1u);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
}

TEST_P(TypedOperations, AddOptedInRetriesAnAmbiguousFailure) {
  const kind_case k = GetParam();
  const ipsec::operation_options opt_in{.exists_after_ambiguous_is_done = true};
  {
    world w;  // the first call did not create it: the retry does
    w.agent.inject(1, ir::win32_error{rpc_call_failed});
    timed_agent timed{w.agent, w.time};
    const auto r = typed(policy_operation::add, k.kind, timed, name,
                         policy("initial=10ms, jitter=none"), w.options(), opt_in);
    expect_success(r, success, completion::done, 2);
    EXPECT_EQ(timed.starts(), ms({0, 10}));
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active);
  }
  {
    world w;  // the first call did create it (the agent has it): EXISTS means done
    w.agent.install(k.kind, name);
    w.agent.inject(1, ir::win32_error{rpc_call_failed});
    const auto r = typed(policy_operation::add, k.kind, w.agent, name,
                         policy("initial=10ms, jitter=none"), w.options(), opt_in);
    expect_success(r, k.exists, completion::exists_after_ambiguous, 2);
  }
  {
    world w;  // ambiguous, then pending (transient), then EXISTS: still after an ambiguous one
    w.agent.install(k.kind, name);
    w.agent.inject(1, ir::win32_error{1460});  // ERROR_TIMEOUT
    w.agent.inject(2, ir::win32_error{k.pending});
    const auto r = typed(policy_operation::add, k.kind, w.agent, name,
                         policy("initial=10ms, jitter=none"), w.options(), opt_in);
    expect_success(r, k.exists, completion::exists_after_ambiguous, 3);
  }
}

TEST_P(TypedOperations, ExistsWithoutAPriorAmbiguousFailureIsAFailure) {
  const kind_case k = GetParam();
  const ipsec::operation_options opt_in{.exists_after_ambiguous_is_done = true};
  for (const ipsec::operation_options& rules : {ipsec::operation_options{}, opt_in}) {
    SCOPED_TRACE(rules.exists_after_ambiguous_is_done ? "opted in" : "default");
    {
      world w;
      w.agent.install(k.kind, name);
      const auto r = typed(policy_operation::add, k.kind, w.agent, name,
                           policy("initial=10ms, jitter=none"), w.options(), rules);
      expect_failure(r, k.exists, ir::stop_reason::permanent_error, 1);
    }
    {
      world w;  // a transient but unambiguous failure first (the call provably did not run)
      w.agent.install(k.kind, name);
      w.agent.inject(1, ir::win32_error{1727});  // RPC_S_CALL_FAILED_DNE
      const auto r = typed(policy_operation::add, k.kind, w.agent, name,
                           policy("initial=10ms, jitter=none"), w.options(), rules);
      expect_failure(r, k.exists, ir::stop_reason::permanent_error, 2);
    }
  }
}

TEST_P(TypedOperations, AnIdempotentSiteRetriesAddButExistsStillNeedsTheOptIn) {
  const kind_case k = GetParam();
  ir::retry_settings settings = policy("initial=10ms, jitter=none").settings();
  settings.classify.set_idempotency(ir::idempotency::idempotent);
  const auto idempotent_site = ir::retry_policy::make(settings).value();
  world w;
  w.agent.install(k.kind, name);
  w.agent.inject(1, ir::win32_error{rpc_call_failed});
  const auto r = typed(policy_operation::add, k.kind, w.agent, name, idempotent_site, w.options());
  expect_failure(r, k.exists, ir::stop_reason::permanent_error, 2);
}

TEST_P(TypedOperations, SetAndDeleteRetryAmbiguousFailuresAddDoesNot) {
  const kind_case k = GetParam();
  for (std::uint32_t ambiguous : {1726u, 1820u, 1818u, 1460u}) {
    SCOPED_TRACE(ambiguous);
    for (policy_operation op :
         {policy_operation::set, policy_operation::remove, policy_operation::add}) {
      SCOPED_TRACE(static_cast<int>(op));
      world w;
      if (op != policy_operation::add) w.agent.install(k.kind, name);
      w.agent.inject(1, ir::win32_error{ambiguous});
      w.agent.inject(2, ir::win32_error{ambiguous});
      const auto r =
          typed(op, k.kind, w.agent, name, policy("initial=10ms, jitter=none"), w.options());
      if (op == policy_operation::add) {
        expect_failure(r, ambiguous, ir::stop_reason::permanent_error, 1);
        EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
      } else {
        expect_success(r, success, completion::done, 3);
        EXPECT_EQ(w.time.elapsed(), 30ms);
        EXPECT_EQ(w.agent.state_of(k.kind, name), op == policy_operation::set
                                                      ? simulated_agent::state::active
                                                      : simulated_agent::state::absent);
      }
    }
  }
}

TEST_P(TypedOperations, WarningsAreDoneAndStayVisible) {
  const kind_case k = GetParam();
  world w;
  w.agent.install(k.kind, name);
  w.agent.inject(1, ir::win32_error{k.pending});
  w.agent.inject(2, ir::win32_error{qm_pruned});
  const auto r = typed(policy_operation::set, k.kind, w.agent, name,
                       policy("initial=10ms, jitter=none"), w.options());
  expect_success(r, qm_pruned, completion::done, 2);
}

TEST(TypedOperations, HooksSeeEachFailedCallWithItsWin32Code) {
  world w;
  w.agent.begin_deletion(policy_kind::quick_mode, name, w.at(730ms));
  std::vector<std::uint32_t> hook_calls;
  std::vector<nanoseconds> delays;
  int foreign = 0;
  const auto options = ir::retry_options{
      .clock = w.time.clock(),
      .sleeper = w.time.sleeper(),
      .on_retry = [&](std::uint32_t n, const std::error_code& ec, nanoseconds next) {
        hook_calls.push_back(n);
        delays.push_back(next);
        if (ec.category() != ir::win32_category() || ec.value() != static_cast<int>(qm_pending)) {
          ++foreign;
        }
      }};
  const auto r =
      ipsec::add_qm_policy(w.agent, name, {}, policy("initial=10ms, jitter=none"), options);
  expect_success(r, success, completion::done, 8);
  EXPECT_EQ(hook_calls, (std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(delays, ms({10, 20, 40, 80, 160, 320, 640}));
  EXPECT_EQ(foreign, 0);
}

TEST(TypedOperations, DefaultArgumentsUseTheBuiltinPolicies) {
  // First calls that succeed never sleep, so the real-time defaults are safe here.
  ir::virtual_time time;
  simulated_agent agent(time.clock());
  agent.install(policy_kind::quick_mode, L"q");
  agent.install(policy_kind::main_mode, L"m");
  expect_success(ipsec::set_qm_policy(agent, L"q", {}), success, completion::done, 1);
  expect_success(ipsec::delete_qm_policy(agent, L"q"), success, completion::done, 1);
  expect_success(ipsec::add_qm_policy(agent, L"q", {}), success, completion::done, 1);
  expect_success(ipsec::set_mm_policy(agent, L"m", {}), success, completion::done, 1);
  expect_success(ipsec::delete_mm_policy(agent, L"m"), success, completion::done, 1);
  expect_success(ipsec::add_mm_policy(agent, L"m", {}), success, completion::done, 1);
  // A permanent first failure does not sleep either.
  const auto r = ipsec::add_mm_policy(agent, L"m", {});
  expect_failure(r, mm_exists, ir::stop_reason::permanent_error, 1);
}

TEST(TypedOperations, BuiltinPoliciesAreTheDocumentedOnes) {
  EXPECT_EQ(ipsec::builtin_policy(policy_operation::remove).format(),
            "attempts=unlimited, timeout=1min, backoff=exponential, initial=50ms, multiplier=2, "
            "max_delay=2s, jitter=20%, at_deadline=final_call");
  for (policy_operation op : {policy_operation::set, policy_operation::add}) {
    EXPECT_EQ(ipsec::builtin_policy(op).format(),
              "attempts=unlimited, timeout=30s, backoff=exponential, initial=20ms, multiplier=2, "
              "max_delay=1s, jitter=20%, at_deadline=final_call");
  }
  EXPECT_EQ(ipsec::builtin_policy(policy_operation::remove),
            policy("timeout=60s, initial=50ms, max_delay=2s"));
}

// ---------------------------------------------------------------------------------------------
// docs/cli.md and docs/simulator.md: the worked numbers.

// Exponential from 10 ms x2, no jitter: calls at 0, 10, 30, 70, 150, 310, 630, 1270 ms. The
// deletion completes at 730 ms, so call 7 (630 ms) still sees it pending and call 8 succeeds.
TEST_P(TypedOperations, DesignAddSucceedsOnCall8At1270ms) {
  const kind_case k = GetParam();
  world w;
  w.agent.begin_deletion(k.kind, name, w.at(730ms));
  timed_agent timed{w.agent, w.time};
  const auto r = typed(policy_operation::add, k.kind, timed, name,
                       policy("initial=10ms, jitter=none"), w.options());
  expect_success(r, success, completion::done, 8);
  EXPECT_EQ(timed.starts(), ms({0, 10, 30, 70, 150, 310, 630, 1270}));
  EXPECT_EQ(w.time.elapsed(), 1270ms);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active);
}

// timeout=5s, exponential 10 ms x2 capped at 1 s: 12 calls, the last exactly at the deadline.
TEST_P(TypedOperations, DesignTenSecondDeletionExceedsAFiveSecondDeadline) {
  const kind_case k = GetParam();
  for (policy_operation op :
       {policy_operation::add, policy_operation::set, policy_operation::remove}) {
    SCOPED_TRACE(static_cast<int>(op));
    world w;
    w.agent.begin_deletion(k.kind, name, w.at(10s));
    timed_agent timed{w.agent, w.time};
    const auto r =
        typed(op, k.kind, timed, name,
              policy("timeout=5s, initial=10ms, max_delay=1s, jitter=none"), w.options());
    expect_failure(r, k.pending, ir::stop_reason::deadline_exceeded, 12);
    EXPECT_EQ(r.error().elapsed, 5s);
    EXPECT_EQ(timed.starts(), ms({0, 10, 30, 70, 150, 310, 630, 1270, 2270, 3270, 4270, 5000}));
  }
}

TEST_P(TypedOperations, DesignInjectedPermanentCodeStopsAtOnce) {
  const kind_case k = GetParam();
  world w;
  w.agent.begin_deletion(k.kind, name, w.at(730ms));
  w.agent.inject(3, ir::win32_error{access_denied});
  const auto r = typed(policy_operation::add, k.kind, w.agent, name,
                       policy("initial=10ms, jitter=none"), w.options());
  expect_failure(r, access_denied, ir::stop_reason::permanent_error, 3);
  EXPECT_EQ(r.error().elapsed, 30ms);
  EXPECT_EQ(w.agent.calls(), 3u);
}

// ---------------------------------------------------------------------------------------------
// Threads (also run under TSan).

TEST(SimulatedAgentThreads, ConcurrentTypedDeletesAllComplete) {
  // Each thread deletes its own in-use policy through the wrapper, then deletes it again; the
  // agent and the virtual time (advanced by every thread's sleeps) are shared.
  constexpr int threads = 8;
  ir::virtual_time time;
  simulated_agent agent(time.clock(), 200ms);
  std::vector<std::wstring> names;
  for (int t = 0; t < threads; ++t) names.push_back(L"p" + std::to_wstring(t));
  for (const auto& n : names) agent.install(policy_kind::quick_mode, n, true);
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> calls{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::wstring& n = names[static_cast<std::size_t>(t)];
      const auto p =
          ir::retry_policy::parse("initial=1ms, max_delay=10ms, jitter=none, timeout=1h").value();
      const auto opts = ir::retry_options{.clock = time.clock(), .sleeper = time.sleeper()};
      const auto first = ipsec::delete_qm_policy(agent, n, p, opts);
      if (!first || first.value().how != completion::done || first.value().calls != 1) {
        failures.fetch_add(1);
      }
      calls.fetch_add(1);
      // Again: pending until the deletion completes, then NOT_FOUND counts as gone. (If other
      // threads' sleeps carried the shared time past the completion before this thread looked,
      // the first call already sees NOT_FOUND without a pending: a failure after one call.)
      const auto second = ipsec::delete_qm_policy(agent, n, p, opts);
      if (second) {
        calls.fetch_add(second.value().calls);
        if (second.value().how != completion::gone_after_pending ||
            u(second.value().code) != qm_not_found || second.value().calls < 2) {
          failures.fetch_add(1);
        }
      } else {
        calls.fetch_add(second.error().calls);
        if (second.error().reason != ir::stop_reason::permanent_error ||
            second.error().code.value() != static_cast<int>(qm_not_found) ||
            second.error().calls != 1) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(agent.calls(), calls.load());
  for (const auto& n : names) {
    EXPECT_EQ(agent.state_of(policy_kind::quick_mode, n), simulated_agent::state::absent);
  }
}

// ---------------------------------------------------------------------------------------------
// The fast path (run_operation): without a guard or coalescing, call 1 is made before the
// engine exists; a first call that fails is handed to the engine as call 1's answer.

TEST(TypedFastPath, FirstCallSuccessIsOneCallAndOneSucceededEvent) {
  world w;
  w.agent.install(policy_kind::quick_mode, name, /*in_use_by_sas=*/false);
  std::vector<ir::retry_event> events;
  const auto r = ipsec::delete_qm_policy(
      w.agent, name, policy("initial=10ms, jitter=none"),
      ir::options()
          .with_time(w.time)
          .with_site("qm.delete")
          .with_on_event([&](const ir::retry_event& e) { events.push_back(e); }));
  expect_success(r, success, completion::done, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, ir::retry_event::kind::succeeded);
  EXPECT_EQ(events[0].call, 1u);
  EXPECT_EQ(events[0].site, "qm.delete");
  EXPECT_FALSE(events[0].code) << "ERROR_SUCCESS";
  EXPECT_EQ(w.time.sleeps(), 0u);
}

TEST(TypedFastPath, AFailedFirstCallIsCountedOnceAndTheEngineCarriesOn) {
  world w;
  w.agent.begin_deletion(policy_kind::quick_mode, name, w.at(25ms));
  std::vector<ir::retry_event> events;
  const auto r =
      ipsec::delete_qm_policy(w.agent, name, policy("initial=10ms, jitter=none"),
                              ir::options().with_time(w.time).with_on_event(
                                  [&](const ir::retry_event& e) { events.push_back(e); }));
  // Calls at 0 (pending), 10 (pending), 30 (NOT_FOUND after pending: gone).
  expect_success(r, qm_not_found, completion::gone_after_pending, 3);
  EXPECT_EQ(w.agent.calls(), 3u) << "call 1 is not repeated by the engine";
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, ir::retry_event::kind::retrying);
  EXPECT_EQ(events[0].call, 1u);
  EXPECT_EQ(events[0].code, ir::win32_error::ipsec_qm_policy_pending_deletion);
  EXPECT_EQ(events[0].next_delay, 10ms);
  EXPECT_EQ(events[2].what, ir::retry_event::kind::succeeded);
  EXPECT_EQ(events[2].call, 3u);
  EXPECT_EQ(events[2].elapsed, 30ms);
}

TEST(TypedFastPath, APermanentFirstAnswerStopsWithItsCode) {
  world w;
  w.agent.inject(1, ir::win32_error{5});  // ERROR_ACCESS_DENIED on call 1
  const auto r =
      ipsec::delete_qm_policy(w.agent, name, policy("initial=10ms, jitter=none"), w.options());
  expect_failure(r, 5, ir::stop_reason::permanent_error, 1);
  EXPECT_EQ(w.time.sleeps(), 0u);
}
