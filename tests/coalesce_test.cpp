// SPDX-License-Identifier: BSL-1.0
// Coalesced waits on one pending deletion (coalesce.hpp, issue 7): a leader polls, followers
// wait without calling the agent and are released when the deletion completes, each bounded by
// its own deadline and cancellation; a leader that gives up hands the wait over.
// Threads are synchronised on the registry's own state (followers(), waiting()), never on
// sleeps; the agent and the polling leaders run in virtual time. Only the deadline tests wait
// in real time (2 ms each).
#include <ipsec_retry/ipsec/coalesce.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string_view>
#include <thread>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;
using ipsec::completion;
using ipsec::pending_deletion_waits;
using ipsec::policy_kind;

namespace {

constexpr std::wstring_view name = L"corp-qm";
constexpr ipsec::wait_key key{L"", ir::object_kind::qm_policy, name};
constexpr ir::win32_error pending{13023};
constexpr ir::win32_error not_found{13001};

ir::retry_policy policy(const char* text) {
  return ir::retry_policy::parse(text).value();
}

// Spins (yielding) until `done()`; the registry's state is the synchronisation, not time.
template <class Pred>
void spin_until(Pred done) {
  while (!done()) std::this_thread::yield();
}

struct scenario {
  ir::virtual_time vt;
  ipsec::simulated_agent agent{vt.clock()};
  pending_deletion_waits waits;
  explicit scenario(std::chrono::nanoseconds completes_at) {
    agent.begin_deletion(policy_kind::quick_mode, std::wstring(name), vt.now() + completes_at);
  }
  auto options(std::stop_token stop = {}) {
    return ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper(), .stop = stop};
  }
  ipsec::operation_options co() { return {.waits = &waits}; }
};

}  // namespace

TEST(PendingDeletionWaits, JoinFindsOnlyAWaitInProgress) {
  pending_deletion_waits waits;
  EXPECT_FALSE(waits.join(key)) << "no wait: make the call yourself";
  auto leader = waits.lead(key);
  EXPECT_TRUE(leader.leads());
  auto follower = waits.join(key);
  EXPECT_TRUE(follower.follows());
  auto late = waits.lead(key);
  EXPECT_TRUE(late.follows()) << "a second PENDING_DELETION joins the wait in progress";
  EXPECT_EQ(waits.followers(key), 2u);
  EXPECT_FALSE(waits.join({L"other-server", policy_kind::quick_mode, name}))
      << "keyed by endpoint too";
  EXPECT_FALSE(waits.join({L"", policy_kind::main_mode, name})) << "and by kind";
  EXPECT_FALSE(waits.poll(follower));
  waits.release(leader);
  EXPECT_FALSE(leader);
  EXPECT_EQ(waits.poll(follower), pending_deletion_waits::wake::released);
  EXPECT_FALSE(follower);
  EXPECT_EQ(waits.poll(late), pending_deletion_waits::wake::released);
  EXPECT_FALSE(waits.waiting(key));
}

TEST(PendingDeletionWaits, DroppingTheLeaderPromotesTheOldestFollower) {
  pending_deletion_waits waits;
  auto leader = waits.lead(key);
  auto first = waits.join(key);
  auto second = waits.join(key);
  leader.reset();
  EXPECT_EQ(waits.poll(first), pending_deletion_waits::wake::promoted);
  EXPECT_TRUE(first.leads());
  EXPECT_FALSE(waits.poll(second));
  EXPECT_TRUE(second.follows());
  first.reset();
  EXPECT_EQ(waits.poll(second), pending_deletion_waits::wake::promoted);
  second.reset();
  EXPECT_FALSE(waits.waiting(key)) << "the last leader leaving ends the wait";
}

// Regression (found under TSan): a follower released between join() and its first look at the
// ticket saw an empty role, skipped the wait, and so forgot the object had been pending
// deletion: its delete then failed with NOT_FOUND instead of gone_after_pending.
TEST(PendingDeletionWaits, AFollowerReleasedBeforeItLooksStillFollowsUntilTold) {
  pending_deletion_waits waits;
  auto leader = waits.lead(key);
  auto follower = waits.join(key);
  waits.release(leader);
  EXPECT_TRUE(follower.follows());
  EXPECT_FALSE(follower.leads());
  EXPECT_TRUE(follower.wake_token().stop_requested()) << "its wake token fired";
  EXPECT_EQ(waits.poll(follower), pending_deletion_waits::wake::released);
  EXPECT_FALSE(follower);

  auto next = waits.lead(key);
  auto promoted = waits.join(key);
  next.reset();
  EXPECT_TRUE(promoted.follows()) << "promoted, but not told yet";
  EXPECT_FALSE(promoted.leads());
  EXPECT_TRUE(promoted.wake_token().stop_requested());
  EXPECT_EQ(waits.poll(promoted), pending_deletion_waits::wake::promoted);
  EXPECT_TRUE(promoted.leads());
}

// With nobody else around, a coalescing caller makes exactly the calls plain retrying makes.
TEST(CoalescedOperation, ALoneLeaderPollsWithItsOwnBackoff) {
  scenario s(730ms);
  const auto r = ipsec::delete_qm_policy(s.agent, name, policy("initial=10ms, jitter=none"),
                                         s.options(), s.co());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().how, completion::gone_after_pending);
  EXPECT_EQ(r.value().calls, 8u);
  EXPECT_EQ(s.agent.calls(), 8u);
  EXPECT_EQ(s.vt.elapsed(), 1270ms) << "calls at 0, 10, 30, 70, 150, 310, 630, 1270 ms";
  EXPECT_FALSE(s.waits.waiting(key));
}

// Issue 11 item 3 in the coalesced loop too: a hook's time comes out of the sleep, and no call
// starts after the deadline (timeout=25ms, constant 10 ms, a hook taking 4 ms).
TEST(CoalescedOperation, HookTimeNeverCarriesACallPastTheDeadline) {
  scenario s(10s);
  const auto r = ipsec::delete_qm_policy(
      s.agent, name, policy("timeout=25ms, backoff=constant, initial=10ms, jitter=none"),
      ir::options().with_time(s.vt).with_on_retry(
          [&](std::uint32_t, const std::error_code&, std::chrono::nanoseconds) {
            s.vt.advance(4ms);
          }),
      s.co());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(s.agent.calls(), 4u) << "calls at 0, 10, 20 and the final one at 25 ms";
  EXPECT_EQ(s.vt.elapsed(), 25ms);
}

TEST(CoalescedOperation, AFollowerJoinsWithoutCallingAndIsReleasedOnCompletion) {
  scenario s(730ms);
  auto leader = s.waits.lead(key);
  std::optional<ir::retry_result<ipsec::operation_result>> r;
  std::thread follower([&] {
    r = ipsec::delete_qm_policy(s.agent, name, policy("timeout=30s"), s.options(), s.co());
  });
  spin_until([&] { return s.waits.followers(key) == 1; });
  EXPECT_EQ(s.agent.calls(), 0u) << "the follower did not call the agent";
  s.vt.advance(800ms);  // the deletion completed at 730 ms; the leader sees it
  s.waits.release(leader);
  follower.join();
  ASSERT_TRUE(r && *r) << r->error().message();
  EXPECT_EQ(r->value().how, completion::gone_after_pending)
      << "a released follower counts as having seen PENDING_DELETION";
  EXPECT_EQ(r->value().code, not_found);
  EXPECT_EQ(r->value().calls, 1u);
  EXPECT_EQ(s.agent.calls(), 1u);
}

TEST(CoalescedOperation, AFollowerGivesUpAtItsOwnDeadline) {
  scenario s(730ms);
  auto leader = s.waits.lead(key);        // a leader that never comes back
  const auto opts = ir::retry_options{};  // real time: the wait is 2 ms
  const auto gave_up = ipsec::delete_qm_policy(
      s.agent, name, policy("timeout=2ms, at_deadline=give_up"), opts, s.co());
  ASSERT_FALSE(gave_up);
  EXPECT_EQ(gave_up.error().reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(gave_up.error().calls, 0u);
  EXPECT_EQ(gave_up.error().code, pending);
  EXPECT_EQ(s.agent.calls(), 0u);
  EXPECT_EQ(s.waits.followers(key), 0u) << "it left the wait";

  // at_deadline=final_call (the default): one call of its own at the deadline.
  const auto final_call =
      ipsec::delete_qm_policy(s.agent, name, policy("timeout=2ms"), opts, s.co());
  ASSERT_FALSE(final_call);
  EXPECT_EQ(final_call.error().reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(final_call.error().calls, 1u);
  EXPECT_EQ(final_call.error().code, pending);
  EXPECT_EQ(s.agent.calls(), 1u);
  EXPECT_TRUE(leader.leads()) << "the leader is undisturbed";
}

TEST(CoalescedOperation, AFollowerStopsWhenCancelled) {
  scenario s(730ms);
  auto leader = s.waits.lead(key);
  std::stop_source stop;
  std::optional<ir::retry_result<ipsec::operation_result>> r;
  std::thread follower([&] {
    r = ipsec::delete_qm_policy(s.agent, name, policy("timeout=none, attempts=5"),
                                s.options(stop.get_token()), s.co());
  });
  spin_until([&] { return s.waits.followers(key) == 1; });
  stop.request_stop();
  follower.join();
  ASSERT_TRUE(r && !*r);
  EXPECT_EQ(r->error().reason, ir::stop_reason::cancelled);
  EXPECT_EQ(r->error().calls, 0u);
  EXPECT_EQ(r->error().code, pending);
  EXPECT_EQ(s.agent.calls(), 0u);
  EXPECT_EQ(s.waits.followers(key), 0u);
}

TEST(CoalescedOperation, ALeaderThatGoesAwayHandsOverToAFollower) {
  scenario s(730ms);
  auto leader = s.waits.lead(key);
  std::optional<ir::retry_result<ipsec::operation_result>> r;
  std::thread follower([&] {
    r = ipsec::delete_qm_policy(s.agent, name, policy("initial=10ms, jitter=none"), s.options(),
                                s.co());
  });
  spin_until([&] { return s.waits.followers(key) == 1; });
  leader.reset();  // gives up without releasing
  follower.join();
  ASSERT_TRUE(r && *r) << r->error().message();
  EXPECT_EQ(r->value().how, completion::gone_after_pending);
  EXPECT_EQ(r->value().calls, 8u) << "promoted, it polled with its own backoff";
  EXPECT_FALSE(s.waits.waiting(key));
}

namespace {

// The simulated agent, but its call number `gate` waits until a follower has joined, then
// returns normally or throws.
struct gated_agent {
  ipsec::simulated_agent& agent;
  pending_deletion_waits& waits;
  std::uint64_t gate;
  bool throw_at_gate;
  std::size_t followers = 1;  // the gate opens once this many callers follow
  std::atomic<std::uint64_t> calls{0};

  ir::win32_error delete_policy(policy_kind kind, std::wstring_view n) {
    if (++calls == gate) {
      spin_until([&] { return waits.followers(key) == followers; });
      if (throw_at_gate) throw std::runtime_error("agent wrapper failed");
    }
    return agent.delete_policy(kind, n);
  }
  ir::win32_error set_policy(policy_kind, std::wstring_view, ipsec::native_policy) { return {}; }
  ir::win32_error add_policy(policy_kind, std::wstring_view, ipsec::native_policy) { return {}; }
};

void leader_gives_up_and_hands_over(bool by_exception) {
  scenario s(730ms);
  gated_agent gated{s.agent, s.waits, 2, by_exception};
  std::optional<ir::retry_result<ipsec::operation_result>> led;
  bool threw = false;
  std::thread leader([&] {
    try {
      led = ipsec::delete_qm_policy(gated, name, policy("attempts=2, initial=10ms, jitter=none"),
                                    s.options(), s.co());
    } catch (const std::runtime_error&) {
      threw = true;
    }
  });
  spin_until([&] { return s.waits.waiting(key); });  // the leader saw PENDING_DELETION
  std::optional<ir::retry_result<ipsec::operation_result>> followed;
  std::thread follower([&] {
    followed = ipsec::delete_qm_policy(gated, name, policy("initial=10ms, jitter=none"),
                                       s.options(), s.co());
  });
  leader.join();
  follower.join();
  if (by_exception) {
    EXPECT_TRUE(threw) << "the exception passes through unchanged";
  } else {
    ASSERT_TRUE(led && !*led);
    EXPECT_EQ(led->error().reason, ir::stop_reason::attempts_exhausted);
    EXPECT_EQ(led->error().calls, 2u);
  }
  ASSERT_TRUE(followed && *followed) << followed->error().message();
  EXPECT_EQ(followed->value().how, completion::gone_after_pending)
      << "the follower was promoted and polled until the deletion completed";
  EXPECT_FALSE(s.waits.waiting(key));
}

}  // namespace

TEST(CoalescedOperation, ALeaderOutOfAttemptsHandsOver) {
  leader_gives_up_and_hands_over(false);
}
TEST(CoalescedOperation, ALeaderWhoseCallThrowsHandsOver) {
  leader_gives_up_and_hands_over(true);
}

// A leader whose call fails permanently saw the deletion end as far as it knows (no
// PENDING_DELETION): it releases the follower, which makes its own call, sees the deletion
// still pending, leads in turn and polls until it completes.
TEST(CoalescedOperation, ALeaderFailingPermanentlyReleasesTheFollowers) {
  scenario s(730ms);
  s.agent.inject(2, ir::win32_error{5});  // ERROR_ACCESS_DENIED
  gated_agent gated{s.agent, s.waits, 2, false};
  std::optional<ir::retry_result<ipsec::operation_result>> led;
  std::thread leader([&] {
    led = ipsec::delete_qm_policy(gated, name, policy("initial=10ms, jitter=none"), s.options(),
                                  s.co());
  });
  spin_until([&] { return s.waits.waiting(key); });
  std::optional<ir::retry_result<ipsec::operation_result>> followed;
  std::thread follower([&] {
    followed = ipsec::delete_qm_policy(gated, name, policy("initial=10ms, jitter=none"),
                                       s.options(), s.co());
  });
  leader.join();
  follower.join();
  ASSERT_TRUE(led && !*led);
  EXPECT_EQ(led->error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(led->error().code, ir::win32_error{5});
  ASSERT_TRUE(followed && *followed) << followed->error().message();
  EXPECT_EQ(followed->value().how, completion::gone_after_pending);
  EXPECT_FALSE(s.waits.waiting(key));
}

// N real threads all waiting on one leader (run under TSan by the tsan preset/CI stage).
TEST(CoalescedOperation, ManyThreadsWaitOnOneLeaderAndEachCallsOnceAfterRelease) {
  constexpr std::size_t n = 16;
  scenario s(730ms);
  auto leader = s.waits.lead(key);
  std::vector<std::optional<ir::retry_result<ipsec::operation_result>>> results(n);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          ipsec::delete_qm_policy(s.agent, name, policy("timeout=30s"), s.options(), s.co());
    });
  }
  spin_until([&] { return s.waits.followers(key) == n; });
  EXPECT_EQ(s.agent.calls(), 0u);
  s.vt.advance(1s);
  s.waits.release(leader);
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r && *r) << r->error().message();
    EXPECT_EQ(r->value().how, completion::gone_after_pending);
    EXPECT_EQ(r->value().calls, 1u);
  }
  EXPECT_EQ(s.agent.calls(), n);
}

// N real threads racing with no leader set up: whoever sees PENDING_DELETION first leads (the
// virtual clock moves only with its sleeps), the rest follow. A thread scheduled after the
// deletion completed truthfully gets NOT_FOUND on its only call.
TEST(CoalescedOperation, ManyThreadsRacingNeverHangAndBoundTheAgentsLoad) {
  constexpr std::size_t n = 16;
  scenario s(730ms);
  std::vector<std::optional<ir::retry_result<ipsec::operation_result>>> results(n);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      results[i] = ipsec::delete_qm_policy(s.agent, name, policy("initial=10ms, jitter=none"),
                                           s.options(), s.co());
    });
  }
  for (auto& t : threads) t.join();
  std::size_t gone = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value());
    if (*r) {
      EXPECT_EQ(r->value().how, completion::gone_after_pending);
      ++gone;
    } else {
      EXPECT_EQ(r->error().reason, ir::stop_reason::permanent_error);
      EXPECT_EQ(r->error().code, not_found);
      EXPECT_EQ(r->error().calls, 1u);
    }
  }
  EXPECT_GE(gone, 1u);
  // One leader at a time polls (at most 8 calls to 1270 ms); everyone else calls at most
  // once before joining and once after release.
  EXPECT_LE(s.agent.calls(), 8u + 2 * n);
  EXPECT_FALSE(s.waits.waiting(key));
}

// Issue 7's acceptance through the library itself, with real threads: 20 callers, 10 ms x2
// without jitter, the deletion completing at 730 ms. The leader's second call is held until
// the 19 others have joined; then it polls alone (8 calls to 1270 ms virtual) and releases
// them: 8 + 19 agent calls, as `ipsec-retry simulate --callers 20 --coalesce` reports.
TEST(CoalescedOperation, TwentyCallersCostTheLeadersPollsPlusOneCallEach) {
  constexpr std::size_t n = 20;
  scenario s(730ms);
  gated_agent gated{s.agent, s.waits, 2, false};
  gated.followers = n - 1;
  const auto p = policy("initial=10ms, jitter=none");
  std::vector<std::optional<ir::retry_result<ipsec::operation_result>>> results(n);
  std::vector<std::thread> threads;
  threads.emplace_back(
      [&] { results[0] = ipsec::delete_qm_policy(gated, name, p, s.options(), s.co()); });
  spin_until([&] { return s.waits.waiting(key); });
  for (std::size_t i = 1; i < n; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = ipsec::delete_qm_policy(gated, name, p, s.options(), s.co()); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r && *r) << r->error().message();
    EXPECT_EQ(r->value().how, completion::gone_after_pending);
  }
  EXPECT_EQ(results[0]->value().calls, 8u);
  EXPECT_EQ(s.agent.calls(), 8u + (n - 1));
  EXPECT_EQ(s.vt.elapsed(), 1270ms);
}
