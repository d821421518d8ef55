// SPDX-License-Identifier: BSL-1.0
// Fault injection: clocks that jump, sleepers that wake early or late, throwing ops and hooks,
// cancellation racing success, and an agent failing mid-sequence. Every path must end, leave
// nothing behind (ASan checks leaks) and report the truth.
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include "loop_test_support.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

using loop_test::pending;
using loop_test::policy;

namespace {

// A clock over a virtual_time that applies a jump on its Nth reading.
struct jumping_clock {
  ir::virtual_time* time;
  std::shared_ptr<int> reads;  // shared by the copies the loop makes
  int jump_at;
  nanoseconds jump;
  ir::time_point now() const {
    if (++*reads == jump_at) time->advance(jump);
    return time->now();
  }
};

// A sleeper that advances virtual time by `factor` x the requested delay (plus `extra`).
struct skewed_sleeper {
  ir::virtual_time* time;
  double factor;
  nanoseconds extra{};
  bool sleep_for(nanoseconds d, const std::stop_token& stop) const {
    if (stop.stop_requested()) return false;
    time->advance(nanoseconds{static_cast<std::int64_t>(static_cast<double>(d.count()) * factor)} +
                  extra);
    return true;
  }
};

}  // namespace

TEST(FaultInjection, ClockJumpingBackwardsStillEndsAndNeverSleepsNegative) {
  ir::virtual_time vt(ir::time_point{} + 1h);
  std::vector<nanoseconds> delays;
  const auto r = ir::retry(
      policy("timeout=1s, initial=10ms, jitter=none"), [] { return pending; },
      ir::retry_options{.clock = jumping_clock{&vt, std::make_shared<int>(0), 3, -30min},
                        .sleeper = vt.sleeper(),
                        .on_retry = [&](std::uint32_t, const std::error_code&, nanoseconds d) {
                          delays.push_back(d);
                        }});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  for (auto d : delays) EXPECT_GE(d, 0ns);
  // The deadline stays start + 1 s on the clock's own scale: after jumping back 30 min the
  // loop keeps going until the clock reaches it again, with delays capped at max_delay.
  for (auto d : delays) EXPECT_LE(d, 2s);
  EXPECT_EQ(r.error().calls, delays.size() + 1);
}

TEST(FaultInjection, ClockJumpingForwardPastTheDeadlineStopsAtTheNextFailure) {
  ir::virtual_time vt;
  int calls = 0;
  const auto r = ir::retry(
      policy("timeout=5s, initial=10ms, jitter=none"),
      [&] {
        ++calls;
        return pending;
      },
      ir::retry_options{.clock = jumping_clock{&vt, std::make_shared<int>(0), 4, 1h},
                        .sleeper = vt.sleeper()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(calls, 2) << "reads: start, end of call 1, before call 2, end of call 2 (jump)";
  EXPECT_GE(r.error().elapsed, 1h) << "elapsed reports what the clock said";
}

TEST(FaultInjection, SleeperWakingEarlyNeverCallsAfterTheDeadline) {
  ir::virtual_time vt;
  std::vector<nanoseconds> starts;
  const auto r = ir::retry(
      policy("timeout=1s, initial=100ms, max_delay=400ms, jitter=none"),
      [&] {
        starts.push_back(vt.elapsed());
        return pending;
      },
      ir::retry_options{.clock = vt.clock(), .sleeper = skewed_sleeper{&vt, 0.25}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  for (auto s : starts) EXPECT_LE(s, 1s);
  EXPECT_EQ(r.error().calls, starts.size());
  EXPECT_EQ(r.error().elapsed, starts.back());
}

TEST(FaultInjection, SleeperWakingLateDelaysTheFinalCallAndTheReportSaysSo) {
  ir::virtual_time vt;
  std::vector<nanoseconds> starts;
  const auto r = ir::retry(
      policy("timeout=100ms, initial=40ms, backoff=constant, jitter=none"),
      [&] {
        starts.push_back(vt.elapsed());
        return pending;
      },
      ir::retry_options{.clock = vt.clock(), .sleeper = skewed_sleeper{&vt, 1.0, 15ms}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  // Scheduled at 0, 55 (40 + 15 late), then 55 + 40 = 95 -> woke at 110: past the deadline.
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts[1], 55ms);
  EXPECT_EQ(starts[2], 110ms) << "a scheduled call is made even if the sleeper overslept";
  EXPECT_EQ(r.error().elapsed, 110ms) << "and the elapsed time is the truth, not the plan";
}

TEST(FaultInjection, ThrowingHookLeavesNothingBehindAndTheNextRunIsClean) {
  ir::virtual_time vt;
  const auto p = policy("attempts=4, initial=1ms, jitter=none");
  int hook_calls = 0;
  auto hook = [&](std::uint32_t call, const std::error_code&, nanoseconds) {
    ++hook_calls;
    if (call == 2) throw std::runtime_error("hook failed");
  };
  int calls = 0;
  auto op = [&] { return ++calls < 10 ? pending : 0u; };
  EXPECT_THROW(
      (void)ir::retry(
          p, op, ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper(), .on_retry = hook}),
      std::runtime_error);
  EXPECT_EQ(calls, 2);
  // A fresh run with the same policy and op state is unaffected.
  const auto again =
      ir::retry(p, op, ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, ir::stop_reason::attempts_exhausted);
  EXPECT_EQ(again.error().calls, 4u);
}

TEST(FaultInjection, OpThrowingOnCallNPropagatesAtExactlyThatCall) {
  for (int n = 1; n <= 5; ++n) {
    ir::virtual_time vt;
    int calls = 0;
    EXPECT_THROW((void)ir::retry(
                     policy("attempts=10, initial=1ms"),
                     [&]() -> ir::result<int> {
                       if (++calls == n) throw std::bad_alloc();
                       return ir::make_error_code(ir::win32_error::busy);
                     },
                     ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()}),
                 std::bad_alloc);
    EXPECT_EQ(calls, n);
  }
}

// A stop request racing the op's success: the result is a success exactly when the last call
// succeeded, never a cancellation hiding a success or a success after a cancelled sleep.
TEST(FaultInjection, CancellationRacingSuccessReportsTheTruth) {
  int successes = 0, cancels = 0;
  for (int round = 0; round < 200; ++round) {
    std::stop_source source;
    std::atomic<int> calls{0};
    std::atomic<bool> last_succeeded{false};
    std::jthread canceller([&source, round] {
      std::this_thread::sleep_for(std::chrono::microseconds(round % 7 * 50));
      source.request_stop();
    });
    const auto r = ir::retry(
        policy("attempts=unlimited, timeout=1s, initial=100us, backoff=constant, jitter=none"),
        [&] {
          const bool ok = calls.fetch_add(1) + 1 >= 3;
          last_succeeded = ok;
          return ok ? 0u : pending;
        },
        ir::retry_options{.stop = source.get_token()});
    canceller.join();
    if (r) {
      ++successes;
      EXPECT_TRUE(last_succeeded.load());
    } else {
      ++cancels;
      EXPECT_EQ(r.error().reason, ir::stop_reason::cancelled);
      EXPECT_EQ(r.error().calls, static_cast<std::uint32_t>(calls.load()));
      if (calls.load() > 0) {
        EXPECT_FALSE(last_succeeded.load());
        EXPECT_EQ(r.error().code, ir::win32_error::ipsec_qm_policy_pending_deletion);
      } else {
        EXPECT_EQ(r.error().code, ir::win32_error::cancelled);
      }
    }
  }
  EXPECT_EQ(successes + cancels, 200);
}

TEST(FaultInjection, AgentFailingMidSequenceIsReportedWithItsCode) {
  ir::virtual_time vt;
  ipsec_retry::ipsec::simulated_agent agent(vt.clock());
  agent.begin_deletion(ipsec_retry::ipsec::policy_kind::quick_mode, L"p", vt.now() + 1s);
  agent.inject(3, ir::win32_error::rpc_s_server_unavailable);  // transient: retried
  agent.inject(5, ir::win32_error::access_denied);             // permanent: stops
  const auto r = ipsec_retry::ipsec::add_qm_policy(
      agent, L"p", {}, policy("initial=10ms, jitter=none"),
      ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(r.error().code, ir::win32_error::access_denied);
  EXPECT_EQ(r.error().calls, 5u);
  EXPECT_EQ(agent.calls(), 5u);
  // The policy's state was not touched by the injected faults.
  EXPECT_EQ(agent.state_of(ipsec_retry::ipsec::policy_kind::quick_mode, L"p"),
            ipsec_retry::ipsec::simulated_agent::state::pending_deletion);
}
