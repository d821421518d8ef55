// SPDX-License-Identifier: BSL-1.0
// The retry budget and its charging rule (guards.hpp). The circuit breaker and the guard
// contract are tested in guards_breaker_test.cpp.
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <thread>
#include <vector>

namespace ir = ipsec_retry;
using namespace std::chrono_literals;

namespace {
ir::retry_policy policy(const char* text) {
  return ir::retry_policy::parse(text).value();
}
}  // namespace

TEST(RetryBudget, FollowsGrpcA6TokenArithmetic) {
  ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
  EXPECT_EQ(budget.tokens(), 10.0);
  for (int i = 0; i < 4; ++i) budget.on_failure();
  EXPECT_EQ(budget.tokens(), 6.0);
  EXPECT_TRUE(budget.allow_retry());  // 6 > 5
  budget.on_failure();
  EXPECT_EQ(budget.tokens(), 5.0);
  EXPECT_FALSE(budget.allow_retry()) << "a retry needs tokens > max_tokens / 2";
  budget.on_success();
  EXPECT_DOUBLE_EQ(budget.tokens(), 5.1);
  EXPECT_TRUE(budget.allow_retry());
  for (int i = 0; i < 100; ++i) budget.on_failure();
  EXPECT_EQ(budget.tokens(), 0.0) << "never below 0";
  for (int i = 0; i < 1000; ++i) budget.on_success();
  EXPECT_EQ(budget.tokens(), 10.0) << "never above max_tokens";
}

TEST(RetryBudget, ParsesAndValidatesItsSettings) {
  const auto s = ir::retry_budget::parse("max_tokens=10, token_ratio=0.1");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s.value().max_tokens, 10.0);
  EXPECT_EQ(s.value().token_ratio, 0.1);
  EXPECT_TRUE(ir::retry_budget::parse(""));
  EXPECT_EQ(ir::retry_budget::parse("max_tokens=0").error().token, "max_tokens");
  EXPECT_EQ(ir::retry_budget::parse("max_tokens=1001").error().code, ir::policy_errc::out_of_range);
  EXPECT_EQ(ir::retry_budget::parse("token_ratio=0").error().token, "token_ratio");
  EXPECT_EQ(ir::retry_budget::parse("tokens=5").error().code, ir::policy_errc::unknown_key);
  EXPECT_EQ(ir::retry_budget::parse("max_tokens=x").error().code, ir::policy_errc::bad_value);
  EXPECT_EQ(ir::retry_budget::parse("max_tokens=5,,").error().code, ir::policy_errc::syntax);
}

TEST(RetryBudget, ParseKeepsTheBaseForKeysNotGivenAndNamesColumns) {
  const ir::retry_budget::settings base{.max_tokens = 4, .token_ratio = 0.5};
  const auto s = ir::retry_budget::parse("token_ratio=0.25", base);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s.value(), (ir::retry_budget::settings{.max_tokens = 4, .token_ratio = 0.25}));
  EXPECT_EQ(ir::retry_budget::parse(" ", base).value(), base);

  const auto twice = ir::retry_budget::parse("max_tokens=4, max_tokens=5");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, ir::policy_errc::duplicate_key);
  EXPECT_EQ(twice.error().column, 15u);
  EXPECT_EQ(twice.error().message(), "column 15: duplicate key 'max_tokens' (first at column 1)");
  const auto unknown = ir::retry_budget::parse("max_tokens=4,   tokens=5");
  EXPECT_EQ(unknown.error().column, 17u) << "the key's own column, past the blanks";
  // The base itself is validated with the result: token_ratio may not exceed max_tokens.
  EXPECT_EQ(ir::retry_budget::parse("max_tokens=0.2", base).error().token, "token_ratio");
}

TEST(RetryBudget, ReconfigureKeepsHowFullTheBudgetIs) {
  ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
  for (int i = 0; i < 4; ++i) budget.on_failure();  // 6 of 10
  budget.reconfigure({.max_tokens = 20, .token_ratio = 0.5});
  EXPECT_EQ(budget.current_settings(),
            (ir::retry_budget::settings{.max_tokens = 20, .token_ratio = 0.5}));
  EXPECT_DOUBLE_EQ(budget.tokens(), 12.0) << "60% full stays 60% full";
  EXPECT_TRUE(budget.allow_retry());  // 12 > 10
  budget.on_success();
  EXPECT_DOUBLE_EQ(budget.tokens(), 12.5) << "the new token_ratio applies";
  budget.reconfigure({.max_tokens = 2, .token_ratio = 0.1});
  EXPECT_DOUBLE_EQ(budget.tokens(), 1.25);
  EXPECT_TRUE(budget.allow_retry());  // 1.25 > 1
  for (int i = 0; i < 50; ++i) budget.on_success();
  EXPECT_DOUBLE_EQ(budget.tokens(), 2.0) << "capped at the new max_tokens";
  // Out-of-range settings are clamped, never undefined: NaN counts as the lowest value.
  budget.reconfigure({.max_tokens = std::numeric_limits<double>::quiet_NaN(), .token_ratio = 1e9});
  EXPECT_EQ(budget.current_settings(),
            (ir::retry_budget::settings{.max_tokens = 0.001, .token_ratio = 0.001}));
  EXPECT_DOUBLE_EQ(budget.tokens(), 0.001) << "still as full, at the new maximum";
}

// Settings and tokens change in one atomic step: a budget kept full by a refilling thread is
// exactly full after every reconfigure (with separate atomics, a refill landing between the
// new maximum and the rescale left it half full).
TEST(RetryBudget, ReconfigureIsOneAtomicStepUnderConcurrentRefills) {
  ir::retry_budget budget({.max_tokens = 20, .token_ratio = 1});
  std::atomic<bool> done{false};
  std::thread refiller([&] {
    while (!done.load(std::memory_order_relaxed)) budget.on_success();
  });
  int not_full = 0;
  for (int i = 0; i < 20000; ++i) {
    const double max = i % 2 ? 20.0 : 10.0;
    budget.reconfigure({.max_tokens = max, .token_ratio = 1});
    if (budget.tokens() != max) ++not_full;
  }
  done = true;
  refiller.join();
  EXPECT_EQ(not_full, 0);
}

TEST(RetryBudget, RangeErrorsPointAtTheKeyTheTextGave) {
  const ir::retry_budget::settings base{.max_tokens = 10, .token_ratio = 2};
  const auto r = ir::retry_budget::parse("  max_tokens=1", base);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().token, "token_ratio");
  EXPECT_EQ(r.error().column, 3u);
  EXPECT_EQ(r.error().message(), "column 3: token_ratio must be in [0.001, max_tokens = 1], got 2");
  const auto trailing = ir::retry_budget::parse("max_tokens=4 ;");
  EXPECT_EQ(trailing.error().column, 14u) << "the trailing separator";
  const auto middle = ir::retry_budget::parse("max_tokens=4; ;token_ratio=1");
  EXPECT_EQ(middle.error().column, 15u) << "the separator after the empty item";
  EXPECT_EQ(ir::retry_budget::parse("max_tokens=4\r\n").value().max_tokens, 4.0)
      << "the same blanks as policy strings";
}

// Issue 7: a budget of max_tokens=10, token_ratio=0.1 against an overloaded agent stops the
// storm within the first few calls.
TEST(RetryBudget, StopsARetryStormWithinTheFirstFewCalls) {
  ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
  ir::virtual_time vt;
  int calls = 0;
  const auto r = ir::retry(
      policy("timeout=30s, initial=10ms, jitter=none"),
      [&] {
        ++calls;
        return vt.elapsed() < 10s ? 1723u : 0u;  // RPC_S_SERVER_TOO_BUSY for 10 s
      },
      ir::retry_options{
          .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::budget_guard{&budget}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(r.error().calls, 5u) << "10 tokens, retry only while tokens > 5";
  EXPECT_EQ(r.error().code, ir::win32_error::rpc_s_server_too_busy);
  // The first call of the next caller is never refused, its retries are.
  const auto next = ir::retry(
      policy("timeout=1s"), [] { return 1722u; },
      ir::retry_options{
          .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::budget_guard{&budget}});
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().calls, 1u);
  EXPECT_EQ(next.error().reason, ir::stop_reason::budget_exhausted);
}

// The charging rule is a trait of the code: exactly the overload codes cost a token.
TEST(RetryBudget, ChargesOnlyFailuresWhoseCodeSignalsOverload) {
  for (const std::uint32_t code :
       {1722u, 1723u, 1726u, 1727u, 1753u, 1820u, 170u, 1460u, 0x80320012u}) {
    EXPECT_TRUE(ir::signals_overload(code)) << code;
    ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
    ir::budget_guard{&budget}.record({}, ir::verdict::transient, code);
    EXPECT_EQ(budget.tokens(), 9.0) << code;
  }
  for (const std::uint32_t code : {13018u, 13019u, 13020u, 13021u, 13022u, 13023u, 1237u, 1818u,
                                   13001u, 13002u, 13007u, 5u, 87u}) {
    EXPECT_FALSE(ir::signals_overload(code)) << code;
    ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
    ir::budget_guard{&budget}.record({}, ir::verdict::transient, code);
    ir::budget_guard{&budget}.record({}, ir::verdict::permanent, code);
    EXPECT_EQ(budget.tokens(), 10.0) << code;
  }
  ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
  ir::budget_guard{&budget}.record({}, ir::verdict::transient, std::nullopt);
  EXPECT_EQ(budget.tokens(), 10.0) << "a code that is not a Windows code is not charged";
  ir::budget_guard{&budget}.record({}, ir::verdict::permanent, 1722u);
  EXPECT_EQ(budget.tokens(), 9.0) << "a site that never retries 1722 still reports the load";
  ir::budget_guard{&budget}.record({}, ir::verdict::success, 13023u);  // success_on=13023
  EXPECT_DOUBLE_EQ(budget.tokens(), 9.1) << "a success refills, whatever its code";
}

// Issue 11, item 4: the README's sample budget used to stop one caller waiting out a 730 ms
// pending deletion with budget_exhausted after 5 calls at 150 ms.
TEST(RetryBudget, Budget_OneCallerWaitsOutA730msPendingDeletion) {
  ir::virtual_time vt;
  ir::ipsec::simulated_agent agent(vt.clock());
  agent.begin_deletion(ir::ipsec::policy_kind::quick_mode, L"corp-qm", vt.clock().now() + 730ms);
  ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});  // README.md's sample
  const auto r = ir::ipsec::delete_qm_policy(
      agent, L"corp-qm", ir::ipsec::builtin_policy(ir::ipsec::policy_operation::remove),
      ir::retry_options{
          .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::budget_guard{&budget}});
  ASSERT_TRUE(r) << r.error().code.message() << " " << ir::to_string(r.error().reason);
  EXPECT_EQ(r.value().how, ir::ipsec::completion::gone_after_pending);
  EXPECT_GT(vt.elapsed(), 730ms);
  EXPECT_EQ(budget.tokens(), 10.0) << "pending deletions cost nothing; the success refills";
}

// ...while 20 callers sharing that budget against a dead agent still stop at once: the first
// caller drains it to 5 tokens in 5 calls, each later caller makes its first call only.
TEST(RetryBudget, Budget_TwentyCallersAgainstADeadAgentStopWithinTheFirstFewCalls) {
  ir::virtual_time vt;
  ir::ipsec::simulated_agent agent(vt.clock());
  for (std::uint64_t call = 1; call <= 1000; ++call) {
    agent.inject(call, ir::win32_error::rpc_s_server_unavailable);
  }
  ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
  std::uint32_t most = 0;
  for (int caller = 0; caller < 20; ++caller) {
    const auto r = ir::ipsec::delete_qm_policy(
        agent, L"corp-qm", ir::ipsec::builtin_policy(ir::ipsec::policy_operation::remove),
        ir::retry_options{
            .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::budget_guard{&budget}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, ir::stop_reason::budget_exhausted) << caller;
    EXPECT_EQ(r.error().code, ir::win32_error::rpc_s_server_unavailable);
    EXPECT_EQ(r.error().calls, caller == 0 ? 5u : 1u) << caller;
    most = std::max(most, r.error().calls);
  }
  EXPECT_EQ(agent.calls(), 24u) << "20 first calls + 4 retries";
  EXPECT_LE(most, 5u);
  EXPECT_LT(vt.elapsed(), 1s);
}

TEST(RetryBudget, SuccessesRefillIt) {
  ir::retry_budget budget({.max_tokens = 4, .token_ratio = 1});
  ir::virtual_time vt;
  for (int i = 0; i < 2; ++i) budget.on_failure();  // 2 tokens: retries refused
  EXPECT_FALSE(budget.allow_retry());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(ir::retry(
        policy("attempts=1"), [] { return 0u; },
        ir::retry_options{
            .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::budget_guard{&budget}}));
  }
  EXPECT_EQ(budget.tokens(), 4.0);
  EXPECT_TRUE(budget.allow_retry());
}

TEST(RetryBudget, IsLockFreeAcrossThreads) {
  ir::retry_budget budget({.max_tokens = 1000, .token_ratio = 1});
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        budget.on_failure();
        budget.on_success();
      }
    });
  }
  threads.clear();
  EXPECT_EQ(budget.tokens(), 1000.0);
}

TEST(Guards, BothMustAdmitAndBothLearn) {
  ir::virtual_time vt;
  ir::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
  ir::circuit_breaker breaker({.failure_threshold = 100, .cool_down = 1s}, vt.clock());
  const auto r = ir::retry(
      policy("timeout=1h, initial=1ms"), [] { return 1722u; },
      ir::retry_options{
          .clock = vt.clock(),
          .sleeper = vt.sleeper(),
          .guard = ir::guard_all{ir::budget_guard{&budget}, ir::breaker_guard{&breaker}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(r.error().calls, 5u);
  EXPECT_EQ(budget.tokens(), 5.0);
  EXPECT_EQ(breaker.last_code(), ir::win32_error::rpc_s_server_unavailable);
}
