// SPDX-License-Identifier: BSL-1.0
// The typed-operation engine (ipsec/engine.hpp) driven by hand, one step at a time: no blocking
// loop, no threads. Each test plays the driver: it makes the "call" itself (a scripted code, or
// the simulated agent through call_agent), passes the virtual time at which things happen, and
// checks what the engine answers. Delays are exact (jitter=none, or a fixed seed).
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/coalesce.hpp>
#include <ipsec_retry/ipsec/engine.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;
using ipsec::completion;
using ipsec::operation_engine;
using ipsec::policy_kind;
using ipsec::policy_operation;
using step = ir::retry_step::action;
using std::chrono::nanoseconds;

namespace {

constexpr std::wstring_view name = L"corp-qm";
constexpr ipsec::wait_key key{L"", policy_kind::quick_mode, name};
constexpr ir::win32_error ok{0};
constexpr ir::win32_error access_denied{5};
constexpr ir::win32_error rpc_call_failed{1726};
constexpr ir::win32_error qm_exists{13000};
constexpr ir::win32_error qm_not_found{13001};
constexpr ir::win32_error qm_pending{13023};

ir::retry_policy policy(const char* text) {
  return ir::retry_policy::parse(text).value();
}
ir::time_point at(nanoseconds since_zero) {
  return ir::time_point{} + since_zero;
}
ipsec::operation_target target(policy_operation op) {
  return {policy_kind::quick_mode, op, name, {}};
}

// A guard that refuses nothing and counts what the engine does with its admissions, so a test
// can check that every admission ends in exactly one record or release.
struct counts {
  int admitted = 0;
  int recorded = 0;
  int released = 0;
};
struct counting_guard {
  static constexpr bool active = true;
  using ticket = ir::no_ticket;
  counts* seen;
  ir::admission<ticket> admit(std::uint32_t) const noexcept {
    ++seen->admitted;
    return {};
  }
  void record(const ticket&, ir::verdict, std::optional<std::uint32_t>) const noexcept {
    ++seen->recorded;
  }
  void release(const ticket&) const noexcept { ++seen->released; }
};

}  // namespace

TEST(OperationEngine, StartAsksForACallAndHasNoErrorBeforeIt) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::set), policy("jitter=none"), guard, at(0ms));
  EXPECT_FALSE(e.error()) << "nothing happened yet";
  EXPECT_EQ(e.start(at(0ms)).what, step::call);
  EXPECT_FALSE(e.error()) << "a call asked for is not a call made";
  EXPECT_EQ(e.calls(), 0u);
}

// Exponential 10 ms x2 without jitter: the delay after call k is 10·2^(k-1) ms, counted from
// the end of call k (call latency does not shift the schedule, it shifts the calls).
TEST(OperationEngine, TransientCodesSleepTheExactScheduledDelays) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::set), policy("initial=10ms, jitter=none"), guard,
                       at(0ms));
  ASSERT_EQ(e.start(at(0ms)).what, step::call);
  nanoseconds now = 0ms;
  for (const nanoseconds expected : {10ms, 20ms, 40ms, 80ms}) {
    now += 3ms;  // the call took 3 ms
    const ir::retry_step s = e.call_ended(qm_pending, at(now));
    ASSERT_EQ(s.what, step::sleep);
    EXPECT_EQ(s.delay, expected) << "after call " << e.calls();
    EXPECT_EQ(e.error().value(), 13023);
    EXPECT_EQ(e.error().category(), ir::win32_category());
    now += s.delay;
    ASSERT_EQ(e.slept(at(now)).what, step::call);
  }
  EXPECT_EQ(e.call_ended(ok, at(now + 3ms)).what, step::done);
  EXPECT_EQ(e.value(), (ipsec::operation_result{ok, completion::done, 5}));
  EXPECT_EQ(e.calls(), 5u);
}

// The seed handed to the engine overrides the policy's: two engines with the same seed jitter
// alike, and as retry_state does with that seed.
TEST(OperationEngine, AFixedSeedMakesTheJitteredDelaysReproducible) {
  const ir::no_guard guard;
  const auto p = policy("initial=100ms, jitter=full, seed=1");
  operation_engine<> a(target(policy_operation::set), p, guard, at(0ms), {}, {}, 42);
  operation_engine<> b(target(policy_operation::set), p, guard, at(0ms), {}, {}, 42);
  ir::retry_state reference(p, at(0ms), std::nullopt, 42);
  (void)a.start(at(0ms));
  (void)b.start(at(0ms));
  for (int k = 0; k < 4; ++k) {
    const nanoseconds now = std::chrono::seconds(k);
    const auto da = a.call_ended(qm_pending, at(now));
    const auto db = b.call_ended(qm_pending, at(now));
    const auto dr = reference.on_call_end(ir::verdict::transient, at(now));
    ASSERT_EQ(da.what, step::sleep);
    EXPECT_EQ(da.delay, db.delay);
    EXPECT_EQ(da.delay, dr.delay) << "call " << k + 1;
    (void)a.slept(at(now + da.delay));
    (void)b.slept(at(now + db.delay));
  }
}

TEST(OperationEngine, APermanentCodeStops) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::set), policy("jitter=none"), guard, at(0ms));
  (void)e.start(at(0ms));
  const ir::retry_step s = e.call_ended(access_denied, at(1ms));
  EXPECT_EQ(s.what, step::stop);
  EXPECT_EQ(s.reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(e.error().value(), 5);
  EXPECT_EQ(e.calls(), 1u);
}

TEST(OperationEngine, DeleteCountsNotFoundAfterPendingDeletionAsGone) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::remove), policy("initial=10ms, jitter=none"), guard,
                       at(0ms));
  (void)e.start(at(0ms));
  ASSERT_EQ(e.call_ended(qm_pending, at(0ms)).what, step::sleep);
  ASSERT_EQ(e.slept(at(10ms)).what, step::call);
  ASSERT_EQ(e.call_ended(qm_pending, at(10ms)).what, step::sleep);
  ASSERT_EQ(e.slept(at(30ms)).what, step::call);
  ASSERT_EQ(e.call_ended(qm_not_found, at(30ms)).what, step::done);
  EXPECT_EQ(ir::to_underlying(e.value().code), 13001u);
  EXPECT_EQ(e.value().how, completion::gone_after_pending);
  EXPECT_EQ(e.value().calls, 3u);
  ASSERT_TRUE(e.take_value());
}

TEST(OperationEngine, DeleteOfAPolicyNeverSeenPendingFailsWithNotFound) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::remove), policy("jitter=none"), guard, at(0ms));
  (void)e.start(at(0ms));
  const ir::retry_step s = e.call_ended(qm_not_found, at(0ms));
  EXPECT_EQ(s.what, step::stop);
  EXPECT_EQ(s.reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(e.error().value(), 13001);
}

TEST(OperationEngine, AddOptedInCountsExistsAfterAnAmbiguousFailureAsDone) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::add), policy("initial=10ms, jitter=none"), guard,
                       at(0ms), {}, {.exists_after_ambiguous_is_done = true});
  (void)e.start(at(0ms));
  const ir::retry_step s = e.call_ended(rpc_call_failed, at(2ms));
  ASSERT_EQ(s.what, step::sleep) << "1726 is retried once the add is told EXISTS may be ours";
  EXPECT_EQ(s.delay, 10ms);
  ASSERT_EQ(e.slept(at(12ms)).what, step::call);
  ASSERT_EQ(e.call_ended(qm_exists, at(13ms)).what, step::done);
  EXPECT_EQ(e.value(), (ipsec::operation_result{qm_exists, completion::exists_after_ambiguous, 2}));
}

TEST(OperationEngine, AddWithoutTheOptionStopsOnAnAmbiguousFailure) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::add), policy("jitter=none"), guard, at(0ms));
  (void)e.start(at(0ms));
  const ir::retry_step s = e.call_ended(rpc_call_failed, at(0ms));
  EXPECT_EQ(s.what, step::stop) << "the first add may have created the policy";
  EXPECT_EQ(s.reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(e.error().value(), 1726);
}

TEST(OperationEngine, AddOptedInStillFailsOnExistsWithoutAnAmbiguousFailureFirst) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::add), policy("jitter=none"), guard, at(0ms), {},
                       {.exists_after_ambiguous_is_done = true});
  (void)e.start(at(0ms));
  const ir::retry_step s = e.call_ended(qm_exists, at(0ms));
  EXPECT_EQ(s.what, step::stop) << "someone else's policy: not ours to count as done";
  EXPECT_EQ(s.reason, ir::stop_reason::permanent_error);
}

// timeout=100ms, exponential 30 ms x2: calls at 0, 30, 90; the next delay (120 ms) would carry
// past the deadline, so the sleep is clipped to 10 ms and the final call starts at 100 ms.
TEST(OperationEngine, FinalCallAtTheDeadlineNeverAfterIt) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::set),
                       policy("timeout=100ms, initial=30ms, jitter=none"), guard, at(0ms));
  EXPECT_EQ(e.deadline(), at(100ms));
  (void)e.start(at(0ms));
  EXPECT_EQ(e.call_ended(qm_pending, at(0ms)).delay, 30ms);
  (void)e.slept(at(30ms));
  EXPECT_EQ(e.call_ended(qm_pending, at(30ms)).delay, 60ms);
  (void)e.slept(at(90ms));
  const ir::retry_step clipped = e.call_ended(qm_pending, at(90ms));
  ASSERT_EQ(clipped.what, step::sleep);
  EXPECT_EQ(clipped.delay, 10ms) << "only until the deadline";
  ASSERT_EQ(e.slept(at(100ms)).what, step::call);
  const ir::retry_step last = e.call_ended(qm_pending, at(100ms));
  EXPECT_EQ(last.what, step::stop);
  EXPECT_EQ(last.reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(e.calls(), 4u);
}

TEST(OperationEngine, GiveUpStopsInsteadOfTheClippedSleep) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::set),
                       policy("timeout=100ms, initial=30ms, jitter=none, at_deadline=give_up"),
                       guard, at(0ms));
  (void)e.start(at(0ms));
  (void)e.call_ended(qm_pending, at(0ms));
  (void)e.slept(at(30ms));
  (void)e.call_ended(qm_pending, at(30ms));
  (void)e.slept(at(90ms));
  const ir::retry_step s = e.call_ended(qm_pending, at(90ms));
  EXPECT_EQ(s.what, step::stop);
  EXPECT_EQ(s.reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(e.calls(), 3u);
}

// A sleeper that wakes late (past the deadline): give_up makes no call; final_call makes it,
// and that call is the last even though the schedule had more.
TEST(OperationEngine, WokenPastTheDeadlineGiveUpDoesNotCall) {
  const ir::no_guard guard;
  for (const bool give_up : {true, false}) {
    operation_engine<> e(target(policy_operation::set),
                         policy(give_up ? "timeout=50ms, initial=20ms, jitter=none, "
                                          "at_deadline=give_up"
                                        : "timeout=50ms, initial=20ms, jitter=none"),
                         guard, at(0ms));
    (void)e.start(at(0ms));
    ASSERT_EQ(e.call_ended(qm_pending, at(0ms)).delay, 20ms);
    const ir::retry_step s = e.slept(at(60ms));
    if (give_up) {
      EXPECT_EQ(s.what, step::stop);
      EXPECT_EQ(s.reason, ir::stop_reason::deadline_exceeded);
      EXPECT_EQ(e.calls(), 1u);
    } else {
      ASSERT_EQ(s.what, step::call);
      EXPECT_EQ(e.call_ended(qm_pending, at(60ms)).reason, ir::stop_reason::deadline_exceeded);
      EXPECT_EQ(e.calls(), 2u);
    }
  }
}

TEST(OperationEngine, AttemptsCountCallsTheFirstIncluded) {
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::set),
                       policy("attempts=3, initial=10ms, jitter=none"), guard, at(0ms));
  (void)e.start(at(0ms));
  ASSERT_EQ(e.call_ended(qm_pending, at(0ms)).what, step::sleep);
  (void)e.slept(at(10ms));
  ASSERT_EQ(e.call_ended(qm_pending, at(10ms)).what, step::sleep);
  (void)e.slept(at(30ms));
  const ir::retry_step s = e.call_ended(qm_pending, at(30ms));
  EXPECT_EQ(s.what, step::stop);
  EXPECT_EQ(s.reason, ir::stop_reason::attempts_exhausted);
  EXPECT_EQ(e.calls(), 3u);
  EXPECT_EQ(e.error().value(), 13023);
}

// Cancelled during the sleep: the admission taken for the call that will not come goes back.
TEST(OperationEngine, CancelStopsAndGivesTheAdmissionBack) {
  counts seen;
  const counting_guard guard{&seen};
  operation_engine<counting_guard> e(target(policy_operation::set), policy("jitter=none"), guard,
                                     at(0ms));
  ASSERT_EQ(e.start(at(0ms)).what, step::call);
  ASSERT_EQ(e.call_ended(qm_pending, at(0ms)).what, step::sleep);
  EXPECT_EQ(seen.admitted, 2) << "call 2 is admitted before the sleep that precedes it";
  const ir::retry_step s = e.cancel(at(5ms));
  EXPECT_EQ(s.what, step::stop);
  EXPECT_EQ(s.reason, ir::stop_reason::cancelled);
  EXPECT_EQ(seen.recorded, 1);
  EXPECT_EQ(seen.released, 1);
}

// budget_guard on an empty budget: a first call is never refused; the retry is, before the
// sleep. guard_all puts a counting guard first, so its admission for the refused call must be
// released (every admission ends in one record or one release).
TEST(OperationEngine, AnEmptyBudgetStopsBeforeTheRetryAndTheAdmissionGoesBack) {
  ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
  for (int i = 0; i < 10; ++i) budget.on_failure();
  ASSERT_EQ(budget.tokens(), 0.0);
  counts seen;
  const ir::guard_all guard{counting_guard{&seen}, ir::budget_guard{&budget}};
  operation_engine<decltype(guard)> e(target(policy_operation::set), policy("jitter=none"), guard,
                                      at(0ms));
  ASSERT_EQ(e.start(at(0ms)).what, step::call);
  const ir::retry_step s = e.call_ended(qm_pending, at(1ms));
  EXPECT_EQ(s.what, step::stop);
  EXPECT_EQ(s.reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(e.calls(), 1u);
  EXPECT_EQ(e.error().value(), 13023) << "the refusal names no code: the last call's stays";
  EXPECT_EQ(seen.admitted, 2);
  EXPECT_EQ(seen.recorded, 1);
  EXPECT_EQ(seen.released, 1);
}

// The engine against the simulated agent, through the one seam call (call_agent): a delete of a
// policy pending deletion until 25 ms, calls at 0, 10, 30 ms.
TEST(OperationEngine, DrivesTheSimulatedAgentThroughCallAgent) {
  ir::virtual_time vt;
  ipsec::simulated_agent agent(vt.clock());
  agent.begin_deletion(policy_kind::quick_mode, name, at(25ms));
  const ir::no_guard guard;
  operation_engine<> e(target(policy_operation::remove), policy("initial=10ms, jitter=none"), guard,
                       vt.now());
  ir::retry_step s = e.start(vt.now());
  while (s.what == step::call || s.what == step::sleep) {
    if (s.what == step::sleep) {
      vt.set(vt.now() + s.delay);
      s = e.slept(vt.now());
    } else {
      s = e.call_ended(ipsec::call_agent(agent, e.target()), vt.now());
    }
  }
  ASSERT_EQ(s.what, step::done);
  EXPECT_EQ(e.value(), (ipsec::operation_result{qm_not_found, completion::gone_after_pending, 3}));
  EXPECT_EQ(agent.calls(), 3u);
  EXPECT_EQ(vt.now(), at(30ms));
}

// --- Coalesced waits (operation_options::waits) ---

namespace {

// Two deletes of the same policy sharing one registry.
struct pair_of_callers {
  ipsec::pending_deletion_waits waits;
  ir::no_guard guard;
  ipsec::operation_options co{.waits = &waits};
  operation_engine<> make(const char* text) {
    return operation_engine<>(target(policy_operation::remove), policy(text), guard, at(0ms), {},
                              co);
  }
};

}  // namespace

TEST(CoalescedEngine, ASecondCallerFollowsAndIsReleasedByTheLeadersAnswer) {
  pair_of_callers p;
  auto leader = p.make("initial=10ms, jitter=none");
  auto follower = p.make("initial=10ms, jitter=none");
  ASSERT_EQ(leader.start(at(0ms)).what, step::call);
  ASSERT_EQ(leader.call_ended(qm_pending, at(0ms)).what, step::sleep);
  EXPECT_TRUE(leader.leads());

  const ir::retry_step w = follower.start(at(1ms));
  ASSERT_EQ(w.what, step::wait_for_leader) << "a wait is in progress: join it, do not call";
  EXPECT_EQ(w.delay, 10ms) << "a slice of its own schedule";
  EXPECT_TRUE(follower.follows());
  EXPECT_FALSE(follower.woken());
  EXPECT_EQ(follower.error().value(), 13023) << "a follower's code is the one it waits out";
  EXPECT_EQ(p.waits.followers(key), 1u);

  ASSERT_EQ(leader.slept(at(10ms)).what, step::call) << "the leader keeps polling";
  ASSERT_EQ(leader.call_ended(qm_not_found, at(10ms)).what, step::done);
  EXPECT_TRUE(follower.woken()) << "released at once, not at the end of its slice";
  EXPECT_TRUE(follower.wake_token().stop_requested());
  EXPECT_FALSE(p.waits.waiting(key));

  ASSERT_EQ(follower.waited(at(10ms)).what, step::call);
  ASSERT_EQ(follower.call_ended(qm_not_found, at(10ms)).what, step::done);
  EXPECT_EQ(follower.value(),
            (ipsec::operation_result{qm_not_found, completion::gone_after_pending, 1}))
      << "NOT_FOUND after following a pending deletion: gone, with its one call";
}

TEST(CoalescedEngine, AFollowerNotWokenWaitsAnotherSlice) {
  pair_of_callers p;
  auto leader = p.make("initial=10ms, jitter=none");
  auto follower = p.make("initial=10ms, jitter=none");
  (void)leader.start(at(0ms));
  (void)leader.call_ended(qm_pending, at(0ms));
  ASSERT_EQ(follower.start(at(0ms)).delay, 10ms);
  const ir::retry_step again = follower.waited(at(10ms));
  EXPECT_EQ(again.what, step::wait_for_leader);
  EXPECT_EQ(again.delay, 20ms) << "the next slice of its backoff";
  EXPECT_EQ(follower.calls(), 0u);
}

// The leader runs out of attempts while the object is still pending: it hands the wait over
// to the follower, who is woken, leads and polls from then on.
TEST(CoalescedEngine, ALeaderThatStopsHandsOverToTheFollower) {
  pair_of_callers p;
  auto leader = p.make("attempts=2, initial=10ms, jitter=none");
  auto follower = p.make("initial=10ms, jitter=none");
  (void)leader.start(at(0ms));
  (void)leader.call_ended(qm_pending, at(0ms));
  ASSERT_EQ(follower.start(at(0ms)).what, step::wait_for_leader);
  (void)leader.slept(at(10ms));
  const ir::retry_step out = leader.call_ended(qm_pending, at(10ms));
  ASSERT_EQ(out.reason, ir::stop_reason::attempts_exhausted);
  EXPECT_FALSE(leader.leads());
  EXPECT_TRUE(follower.woken()) << "promoted: woken at once";
  EXPECT_TRUE(p.waits.waiting(key)) << "the wait goes on with its new leader";

  ASSERT_EQ(follower.waited(at(10ms)).what, step::call);
  EXPECT_TRUE(follower.leads());
  EXPECT_FALSE(follower.follows());
  const ir::retry_step s = follower.call_ended(qm_pending, at(10ms));
  ASSERT_EQ(s.what, step::sleep) << "a leader polls with its own backoff";
  EXPECT_EQ(s.delay, 10ms) << "its first retry delay: its slices were not calls";
  EXPECT_TRUE(follower.leads());
  (void)follower.slept(at(20ms));
  ASSERT_EQ(follower.call_ended(qm_not_found, at(20ms)).what, step::done);
  EXPECT_EQ(follower.value().how, completion::gone_after_pending);
  EXPECT_FALSE(p.waits.waiting(key)) << "its answer ended the wait";
}

// A caller sleeping after a failure of its own joins the wait another caller started meanwhile:
// the admission it took for that call goes back.
TEST(CoalescedEngine, JoiningAWaitGivesBackTheAdmissionForTheCallNotMade) {
  pair_of_callers p;
  counts seen;
  const counting_guard guard{&seen};
  operation_engine<counting_guard> late(target(policy_operation::remove),
                                        policy("initial=10ms, jitter=none"), guard, at(0ms), {},
                                        p.co);
  auto leader = p.make("initial=10ms, jitter=none");
  (void)late.start(at(0ms));
  ASSERT_EQ(late.call_ended(rpc_call_failed, at(0ms)).what, step::sleep) << "delete: idempotent";
  (void)leader.start(at(1ms));
  (void)leader.call_ended(qm_pending, at(1ms));
  ASSERT_EQ(late.slept(at(10ms)).what, step::wait_for_leader);
  EXPECT_EQ(seen.admitted, 2);
  EXPECT_EQ(seen.recorded, 1);
  EXPECT_EQ(seen.released, 1);
}

// Follower deadline 25 ms; slices 10 ms, then 20 ms clipped to 15 ms; at the deadline it makes
// its final call (final_call) or stops without calling (give_up). Either way it leaves the wait.
TEST(CoalescedEngine, AFollowerAtItsDeadlineMakesItsFinalCallOrGivesUp) {
  for (const bool give_up : {false, true}) {
    SCOPED_TRACE(give_up ? "give_up" : "final_call");
    pair_of_callers p;
    auto leader = p.make("initial=10ms, jitter=none");
    auto follower = p.make(give_up ? "timeout=25ms, initial=10ms, jitter=none, at_deadline=give_up"
                                   : "timeout=25ms, initial=10ms, jitter=none");
    (void)leader.start(at(0ms));
    (void)leader.call_ended(qm_pending, at(0ms));
    ASSERT_EQ(follower.start(at(0ms)).delay, 10ms);
    const ir::retry_step clipped = follower.waited(at(10ms));
    ASSERT_EQ(clipped.what, step::wait_for_leader);
    EXPECT_EQ(clipped.delay, 15ms) << "clipped to the deadline";
    const ir::retry_step end = follower.waited(at(25ms));
    EXPECT_EQ(p.waits.followers(key), 0u) << "it left the wait";
    EXPECT_TRUE(leader.leads()) << "and the leader still leads";
    if (give_up) {
      EXPECT_EQ(end.what, step::stop);
      EXPECT_EQ(end.reason, ir::stop_reason::deadline_exceeded);
      EXPECT_EQ(follower.calls(), 0u);
      EXPECT_EQ(follower.error().value(), 13023);
    } else {
      ASSERT_EQ(end.what, step::call);
      const ir::retry_step last = follower.call_ended(qm_pending, at(25ms));
      EXPECT_EQ(last.reason, ir::stop_reason::deadline_exceeded);
      EXPECT_EQ(follower.calls(), 1u);
    }
  }
}

// Regression: a follower released before its deadline but woken (its driver late) after it
// called past the deadline under give_up; the plain loop stops there (retry_state::before_call).
TEST(CoalescedEngine, AFollowerWokenPastItsDeadlineDoesNotCallUnderGiveUp) {
  for (const bool give_up : {true, false}) {
    SCOPED_TRACE(give_up ? "give_up" : "final_call");
    pair_of_callers p;
    auto leader = p.make("initial=10ms, jitter=none");
    auto follower = p.make(give_up ? "timeout=25ms, initial=10ms, jitter=none, at_deadline=give_up"
                                   : "timeout=25ms, initial=10ms, jitter=none");
    (void)leader.start(at(0ms));
    (void)leader.call_ended(qm_pending, at(0ms));
    (void)follower.start(at(0ms));
    (void)leader.slept(at(10ms));
    ASSERT_EQ(leader.call_ended(qm_not_found, at(20ms)).what, step::done);
    ASSERT_TRUE(follower.woken());
    const ir::retry_step s = follower.waited(at(30ms));  // 5 ms past its deadline
    if (give_up) {
      EXPECT_EQ(s.what, step::stop);
      EXPECT_EQ(s.reason, ir::stop_reason::deadline_exceeded);
      EXPECT_EQ(follower.calls(), 0u);
    } else {
      EXPECT_EQ(s.what, step::call) << "final_call: the late call is the final one";
    }
  }
}

// A leader cancelled while sleeping hands over, like any other stop.
TEST(CoalescedEngine, ACancelledLeaderHandsOver) {
  pair_of_callers p;
  auto leader = p.make("initial=10ms, jitter=none");
  auto follower = p.make("initial=10ms, jitter=none");
  (void)leader.start(at(0ms));
  (void)leader.call_ended(qm_pending, at(0ms));
  (void)follower.start(at(0ms));
  EXPECT_EQ(leader.cancel(at(3ms)).reason, ir::stop_reason::cancelled);
  EXPECT_TRUE(follower.woken());
  ASSERT_EQ(follower.waited(at(3ms)).what, step::call);
  EXPECT_TRUE(follower.leads());
}
