// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

namespace ir = ipsec_retry;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace {

constexpr std::uint32_t pending = 13023;  // ERROR_IPSEC_QM_POLICY_PENDING_DELETION

ir::retry_policy policy(const char* text) {
  auto p = ir::retry_policy::parse(text);
  EXPECT_TRUE(p) << text << ": " << (p ? "" : p.error().message());
  return p ? p.value() : ir::retry_policy{};
}

// Records what the loop did, in virtual time.
struct recorder {
  ir::virtual_time time;
  std::vector<nanoseconds> call_starts;  // since t = 0
  std::vector<nanoseconds> delays;       // as reported to on_retry
  std::vector<std::uint32_t> hook_calls;

  auto options() {
    return ir::retry_options{
        .clock = time.clock(),
        .sleeper = time.sleeper(),
        .on_retry = [this](std::uint32_t call, const std::error_code&, nanoseconds next) {
          hook_calls.push_back(call);
          delays.push_back(next);
        }};
  }
  // An op that returns `codes[i]` on call i (the last one forever after).
  auto op(std::vector<std::uint32_t> codes) {
    return [this, codes, i = std::size_t{0}]() mutable {
      call_starts.push_back(time.elapsed());
      const std::uint32_t c = codes[std::min(i, codes.size() - 1)];
      ++i;
      return c;
    };
  }
};

std::vector<nanoseconds> ms(std::initializer_list<long long> values) {
  std::vector<nanoseconds> out;
  for (long long v : values) out.push_back(std::chrono::milliseconds(v));
  return out;
}

}  // namespace

TEST(Retry, FirstCallSuccessReturnsTheCode) {
  recorder rec;
  const auto r = ir::retry(policy(""), rec.op({0}), rec.options());
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), ir::win32_error::success);
  EXPECT_EQ(rec.call_starts.size(), 1u);
  EXPECT_EQ(rec.time.sleeps(), 0u);
}

TEST(Retry, WarningsAreSuccessAndStayVisible) {
  recorder rec;
  const auto r = ir::retry(policy(""), rec.op({pending, 13025}), rec.options());
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), ir::win32_error::warning_ipsec_qm_policy_pruned);
}

// docs/policies.md: exponential 10ms x2 capped at 1s with timeout=5s makes 12 calls, the last
// exactly at 5 s.
TEST(Retry, ExponentialScheduleClipsTheLastSleepToTheDeadline) {
  recorder rec;
  const auto r = ir::retry(policy("timeout=5s, initial=10ms, max_delay=1s, jitter=none"),
                           rec.op({pending}), rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(r.error().calls, 12u);
  EXPECT_EQ(r.error().elapsed, 5s);
  EXPECT_EQ(r.error().code, ir::win32_error::ipsec_qm_policy_pending_deletion);
  EXPECT_EQ(rec.delays, ms({10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 730}));
  EXPECT_EQ(rec.call_starts, ms({0, 10, 30, 70, 150, 310, 630, 1270, 2270, 3270, 4270, 5000}));
  EXPECT_EQ(rec.hook_calls, (std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(Retry, GiveUpStopsInsteadOfCrossingTheDeadline) {
  recorder rec;
  const auto r =
      ir::retry(policy("timeout=5s, initial=10ms, max_delay=1s, jitter=none, at_deadline=give_up"),
                rec.op({pending}), rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(r.error().calls, 11u);
  EXPECT_EQ(r.error().elapsed, 4270ms);
  EXPECT_EQ(rec.call_starts.back(), 4270ms);
}

TEST(Retry, ConstantAndLinearSchedules) {
  {
    recorder rec;
    const auto r = ir::retry(policy("attempts=4, backoff=constant, initial=25ms, jitter=none"),
                             rec.op({pending}), rec.options());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, ir::stop_reason::attempts_exhausted);
    EXPECT_EQ(rec.delays, ms({25, 25, 25}));
    EXPECT_EQ(r.error().elapsed, 75ms);
  }
  {
    recorder rec;
    const auto r = ir::retry(
        policy("attempts=6, backoff=linear, initial=10ms, step=15ms, max_delay=50ms, jitter=none"),
        rec.op({pending}), rec.options());
    ASSERT_FALSE(r);
    EXPECT_EQ(rec.delays, ms({10, 25, 40, 50, 50}));
  }
}

TEST(Retry, DecorrelatedIsReproducibleFromItsSeedAndBounded) {
  const auto p = policy(
      "attempts=30, backoff=decorrelated, initial=10ms, max_delay=1s, "
      "jitter=none, seed=42");
  recorder a, b;
  (void)ir::retry(p, a.op({pending}), a.options());
  (void)ir::retry(p, b.op({pending}), b.options());
  EXPECT_EQ(a.delays, b.delays);
  ASSERT_EQ(a.delays.size(), 29u);
  nanoseconds previous = 10ms;
  for (auto d : a.delays) {
    EXPECT_GE(d, 10ms);
    EXPECT_LE(d, std::min<nanoseconds>(3 * previous, 1s));
    previous = d;
  }
}

TEST(Retry, JitterWithASeedIsReproducible) {
  const auto p = policy("attempts=10, initial=10ms, jitter=full, seed=7");
  recorder a, b;
  (void)ir::retry(p, a.op({pending}), a.options());
  (void)ir::retry(p, b.op({pending}), b.options());
  EXPECT_EQ(a.delays, b.delays);
  for (std::size_t k = 0; k < a.delays.size(); ++k) {
    EXPECT_LE(a.delays[k], 10ms * (1 << k));
  }
}

TEST(Retry, ZeroTimeoutStillMakesExactlyOneCall) {
  recorder rec;
  const auto r = ir::retry(policy("timeout=0s"), rec.op({pending}), rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(r.error().calls, 1u);
  EXPECT_EQ(rec.time.sleeps(), 0u);
}

TEST(Retry, AbsoluteDeadlineInThePastStillMakesExactlyOneCall) {
  recorder rec;
  rec.time.advance(1h);
  auto options = rec.options();
  options.deadline = ir::time_point{} + 1s;  // an hour ago
  const auto r = ir::retry(policy(""), rec.op({pending}), options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(r.error().calls, 1u);
}

TEST(Retry, AbsoluteDeadlineEarlierThanTheTimeoutWins) {
  recorder rec;
  auto options = rec.options();
  options.deadline = ir::time_point{} + 100ms;
  const auto r = ir::retry(policy("timeout=5s, initial=30ms, jitter=none, backoff=constant"),
                           rec.op({pending}), options);
  ASSERT_FALSE(r);
  EXPECT_EQ(rec.call_starts, ms({0, 30, 60, 90, 100}));
}

TEST(Retry, AttemptsOneMeansNoRetry) {
  recorder rec;
  const auto r = ir::retry(policy("attempts=1"), rec.op({pending, 0}), rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::attempts_exhausted);
  EXPECT_EQ(r.error().calls, 1u);
  EXPECT_TRUE(rec.delays.empty());
}

TEST(Retry, PermanentCodeStopsAtOnceKeepingTheCode) {
  recorder rec;
  const auto r = ir::retry(policy(""), rec.op({pending, pending, 5}), rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(r.error().calls, 3u);
  EXPECT_EQ(r.error().code, ir::win32_error::access_denied);
  EXPECT_EQ(r.error().code.category(), ir::win32_category());
}

TEST(Retry, UnknownCodesAreNeverRetried) {
  recorder rec;
  const auto r = ir::retry(policy(""), rec.op({99999}), rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(r.error().calls, 1u);
}

TEST(Retry, PolicyRetryOnAndNeverRetryApply) {
  recorder a;
  const auto ra =
      ir::retry(policy("retry_on=5, attempts=3, jitter=none"), a.op({5, 5, 0}), a.options());
  EXPECT_TRUE(ra);
  EXPECT_EQ(a.call_starts.size(), 3u);
  recorder b;
  const auto rb = ir::retry(policy("never_retry=ERROR_IPSEC_QM_POLICY_PENDING_DELETION"),
                            b.op({pending}), b.options());
  ASSERT_FALSE(rb);
  EXPECT_EQ(rb.error().reason, ir::stop_reason::permanent_error);
}

TEST(Retry, TransientThenSuccessReturnsTheValue) {
  recorder rec;
  const auto r =
      ir::retry(policy("initial=10ms, jitter=none"), rec.op({pending, 1722, 0}), rec.options());
  ASSERT_TRUE(r);
  EXPECT_EQ(rec.call_starts, ms({0, 10, 30}));
}

TEST(Retry, CancelledBeforeTheFirstCallMakesNoCall) {
  recorder rec;
  std::stop_source source;
  source.request_stop();
  auto options = rec.options();
  options.stop = source.get_token();
  const auto r = ir::retry(policy(""), rec.op({0}), options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::cancelled);
  EXPECT_EQ(r.error().calls, 0u);
  EXPECT_EQ(r.error().code, ir::win32_error::cancelled);
  EXPECT_TRUE(rec.call_starts.empty());
}

TEST(Retry, CancelledDuringAVirtualSleep) {
  recorder rec;
  std::stop_source source;
  const auto r =
      ir::retry(policy("initial=10ms, jitter=none"), rec.op({pending}),
                ir::retry_options{.clock = rec.time.clock(),
                                  .sleeper = rec.time.sleeper(),
                                  .on_retry =
                                      [&](std::uint32_t call, const std::error_code&, nanoseconds) {
                                        if (call == 3) source.request_stop();
                                      },
                                  .stop = source.get_token()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::cancelled);
  EXPECT_EQ(r.error().calls, 3u);
  EXPECT_EQ(r.error().code, ir::win32_error::ipsec_qm_policy_pending_deletion);
}

// The real sleeper waits on a condition variable: a stop request ends a 10 s sleep at once.
TEST(Retry, CancellationInterruptsARealSleepPromptly) {
  std::stop_source source;
  std::atomic<int> calls{0};
  std::jthread canceller;
  const auto started = std::chrono::steady_clock::now();
  const auto r = ir::retry(
      policy("initial=10s, max_delay=10s, jitter=none"),
      [&] {
        if (calls.fetch_add(1) == 0) {
          canceller = std::jthread([&] {
            std::this_thread::sleep_for(2ms);
            source.request_stop();
          });
        }
        return pending;
      },
      ir::retry_options{.stop = source.get_token()});
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::cancelled);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_LT(took, 5s) << "the 10 s sleep must end at the stop request, not run out";
}

TEST(Retry, RealSleeperSleepsAboutTheDelay) {
  int calls = 0;
  const auto r = ir::retry(policy("attempts=2, initial=2ms, jitter=none"), [&] {
    ++calls;
    return pending;
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::attempts_exhausted);
  EXPECT_EQ(calls, 2);
  EXPECT_GE(r.error().elapsed, 2ms);
}

TEST(Retry, ThrowingOpPropagatesUnchangedAndIsNotRetried) {
  recorder rec;
  int calls = 0;
  struct boom : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  EXPECT_THROW((void)ir::retry(
                   policy(""),
                   [&]() -> std::uint32_t {
                     if (++calls == 3) throw boom("call 3");
                     return pending;
                   },
                   rec.options()),
               boom);
  EXPECT_EQ(calls, 3);
}

TEST(Retry, ThrowingHookPropagates) {
  recorder rec;
  int calls = 0;
  EXPECT_THROW(
      (void)ir::retry(
          policy(""),
          [&] {
            ++calls;
            return pending;
          },
          ir::retry_options{.clock = rec.time.clock(),
                            .sleeper = rec.time.sleeper(),
                            .on_retry = [](std::uint32_t, const std::error_code&,
                                           nanoseconds) { throw std::logic_error("hook"); }}),
      std::logic_error);
  EXPECT_EQ(calls, 1);
}

TEST(Retry, HookSeesTheCallNumberCodeAndDelay) {
  ir::virtual_time vt;
  std::vector<std::error_code> codes;
  int n = 0;
  (void)ir::retry(
      policy("attempts=3, initial=5ms, jitter=none"), [&] { return ++n == 1 ? pending : 1722u; },
      ir::retry_options{.clock = vt.clock(),
                        .sleeper = vt.sleeper(),
                        .on_retry = [&](std::uint32_t, const std::error_code& ec, nanoseconds) {
                          codes.push_back(ec);
                        }});
  ASSERT_EQ(codes.size(), 2u);
  EXPECT_EQ(codes[0], ir::win32_error::ipsec_qm_policy_pending_deletion);
  EXPECT_EQ(codes[1], ir::win32_error::rpc_s_server_unavailable);
}

TEST(RetryOps, HresultOps) {
  recorder rec;
  int n = 0;
  const auto r = ir::retry(
      policy("jitter=none"),
      [&] { return ++n < 3 ? ir::hresult{0x800732DF} : ir::hresult{1}; },  // then S_FALSE
      rec.options());
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), ir::hresult{1}) << "the success HRESULT is passed through";
  EXPECT_EQ(n, 3);

  recorder fwp;
  const auto f = ir::retry(
      policy("attempts=2"), [] { return ir::hresult{0x80320012}; }, fwp.options());
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().reason, ir::stop_reason::attempts_exhausted);
  EXPECT_EQ(f.error().code, ir::hresult::fwp_e_timeout);
}

TEST(RetryOps, DwordCarryingAnHresultIsNormalized) {
  recorder rec;
  int n = 0;
  const auto r = ir::retry(
      policy("jitter=none"), [&]() -> std::uint32_t { return ++n < 3 ? 0x800732DFu : 0u; },
      rec.options());
  ASSERT_TRUE(r) << "0x800732DF is 13023, transient";
  EXPECT_EQ(n, 3);
}

TEST(RetryError, HresultsAreShownInHex) {
  recorder rec;
  const auto r = ir::retry(
      policy("attempts=1"), [] { return ir::hresult{0x80320012}; }, rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().rfind("FWP_E_TIMEOUT (0x80320012): ", 0), 0u)
      << r.error().message();
}

TEST(RetryOps, ErrorCodeOps) {
  recorder rec;
  int n = 0;
  const auto r = ir::retry(
      policy(""),
      [&]() -> std::error_code {
        if (++n == 1) return ir::win32_error::busy;
        return ir::win32_error::warning_ipsec_mm_policy_pruned;
      },
      rec.options());
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), ir::win32_error::warning_ipsec_mm_policy_pruned);

  // A non-Windows error is permanent and carried unchanged.
  const auto e = ir::retry(
      policy(""), [] { return std::make_error_code(std::errc::io_error); }, rec.options());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, std::errc::io_error);
  EXPECT_EQ(e.error().reason, ir::stop_reason::permanent_error);
}

TEST(RetryOps, ResultOpsPassTheirValueThrough) {
  recorder rec;
  int n = 0;
  const auto r = ir::retry(
      policy(""),
      [&]() -> ir::result<int> {
        if (++n < 3) return ir::make_error_code(ir::win32_error::ipsec_qm_policy_pending_deletion);
        return 42;
      },
      rec.options());
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), 42);

  const auto v = ir::retry(
      policy(""), []() -> ir::result<void> { return ir::outcome::success(); }, rec.options());
  EXPECT_TRUE(v);
}

TEST(RetryOps, ResultErrorMappedToSuccessNeverInventsAValue) {
  // A warning code in a result<int>'s error slot: there is no int to return, so it is a failure.
  recorder rec;
  const auto r = ir::retry(
      policy(""),
      []() -> ir::result<int> {
        return ir::make_error_code(ir::win32_error::warning_ipsec_qm_policy_pruned);
      },
      rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(r.error().code, ir::win32_error::warning_ipsec_qm_policy_pruned);
}

// Finding (issue 11): "a warning inside result<void> becomes plain success and the code is
// lost". It is refused like in result<int>: the loop stops at once and keeps the code.
TEST(RetryOps, WarningInResultVoidIsRefusedWithTheCodeKept) {
  recorder rec;
  const auto v = ir::retry(
      policy(""),
      []() -> ir::result<void> {
        return ir::make_error_code(ir::win32_error::warning_ipsec_qm_policy_pruned);
      },
      rec.options());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(v.error().code, ir::win32_error::warning_ipsec_qm_policy_pruned);
  EXPECT_EQ(v.error().calls, 1u);
}

// A code the site itself maps to success ends a result<void> op: nothing is lost, the site
// asked for it (a delete whose NOT_FOUND means "already gone").
TEST(RetryOps, SiteSuccessCodeEndsAResultVoidOp) {
  recorder rec;
  ir::retry_settings settings;
  settings.classify.map_to_success(13001);  // ERROR_IPSEC_QM_POLICY_NOT_FOUND
  const auto p = ir::retry_policy::make(settings).value();
  const auto v = ir::retry(
      p, []() -> ir::result<void> { return ir::make_error_code(ir::win32_error{13001}); },
      rec.options());
  EXPECT_TRUE(v);
  // The same code where a value is needed is still refused: no int is invented.
  const auto i = ir::retry(
      p, []() -> ir::result<int> { return ir::make_error_code(ir::win32_error{13001}); },
      rec.options());
  ASSERT_FALSE(i);
  EXPECT_EQ(i.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(i.error().code, ir::win32_error{13001});
}

// An op failing with an empty error_code broke its contract: reported, never as a falsy code.
TEST(RetryOps, ResultWithEmptyErrorIsAPermanentFailureWithACode) {
  recorder rec;
  const auto r = ir::retry(
      policy(""), []() -> ir::result<int> { return std::error_code{}; }, rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::permanent_error);
  EXPECT_TRUE(r.error().code) << "the reported code is never falsy";
}

TEST(RetryError, MessageSaysWhatHappened) {
  recorder rec;
  const auto r = ir::retry(policy("timeout=5s, initial=10ms, max_delay=1s, jitter=none"),
                           rec.op({pending}), rec.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "ERROR_IPSEC_QM_POLICY_PENDING_DELETION (13023): The Quick Mode policy is pending "
            "deletion. [deadline_exceeded after 12 calls in 5s]");
  try {
    (void)r.value();
    FAIL() << "value() on a failure must throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), ir::win32_error::ipsec_qm_policy_pending_deletion);
    EXPECT_NE(std::string(e.what()).find("deadline_exceeded after 12 calls"), std::string::npos);
  }
}

TEST(RetryState, StepApiDrivesTheSameSchedule) {
  const auto p = policy("timeout=5s, initial=10ms, max_delay=1s, jitter=none");
  ir::time_point now{};
  ir::retry_state state(p, now);
  EXPECT_EQ(state.deadline(), now + 5s);
  std::vector<nanoseconds> delays;
  for (;;) {
    const auto step = state.on_call_end(ir::verdict::transient, now);
    if (step.what != ir::next_step::action::call_again) {
      EXPECT_EQ(step.what, ir::next_step::action::stop);
      EXPECT_EQ(step.reason, ir::stop_reason::deadline_exceeded);
      break;
    }
    delays.push_back(step.delay);
    now += step.delay;
  }
  EXPECT_EQ(delays, ms({10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 730}));
  EXPECT_EQ(state.calls(), 12u);
}

TEST(RetryState, CallsThatTakeTimeCountTowardsTheDeadline) {
  // Call k+1 starts delay_k after call k *ends*.
  const auto p = policy("timeout=1s, backoff=constant, initial=100ms, jitter=none");
  ir::time_point now{};
  ir::retry_state state(p, now);
  int calls = 0;
  for (;;) {
    ++calls;
    now += 300ms;  // each call takes 300 ms
    const auto step = state.on_call_end(ir::verdict::transient, now);
    if (step.what != ir::next_step::action::call_again) break;
    now += step.delay;
  }
  // Calls start at 0, 400, 800; call 3 ends at 1100 > deadline.
  EXPECT_EQ(calls, 3);
}

// A sleeper that wakes early must not turn the final clipped sleep into ever-shorter sleeps
// towards the deadline: the call scheduled at the deadline is the last.
TEST(RetryState, TheFinalCallIsTheLastEvenIfTheClockIsShortOfTheDeadline) {
  const auto p = policy("timeout=100ms, initial=80ms, backoff=constant, jitter=none");
  ir::retry_state state(p, ir::time_point{});
  auto step = state.on_call_end(ir::verdict::transient, ir::time_point{});
  EXPECT_EQ(step.delay, 80ms);
  step = state.on_call_end(ir::verdict::transient, ir::time_point{} + 80ms);
  ASSERT_EQ(step.what, ir::next_step::action::call_again);
  EXPECT_EQ(step.delay, 20ms) << "clipped to the deadline";
  // The sleeper woke after 5 ms instead of 20: the final call still ends the sequence.
  step = state.on_call_end(ir::verdict::transient, ir::time_point{} + 85ms);
  EXPECT_EQ(step.what, ir::next_step::action::stop);
  EXPECT_EQ(step.reason, ir::stop_reason::deadline_exceeded);
  EXPECT_EQ(state.calls(), 3u);
}

TEST(RetryState, SuccessAndPermanentVerdicts) {
  ir::retry_state state(ir::retry_policy{}, ir::time_point{});
  EXPECT_EQ(state.on_call_end(ir::verdict::success, ir::time_point{}).what,
            ir::next_step::action::succeed);
  ir::retry_state other(ir::retry_policy{}, ir::time_point{});
  const auto step = other.on_call_end(ir::verdict::permanent, ir::time_point{});
  EXPECT_EQ(step.what, ir::next_step::action::stop);
  EXPECT_EQ(step.reason, ir::stop_reason::permanent_error);
}

TEST(RetryState, ClockJumpingBackwardsNeverProducesANegativeDelay) {
  const auto p = policy("timeout=1s, initial=10ms, jitter=none");
  ir::retry_state state(p, ir::time_point{} + 1h);
  const auto step = state.on_call_end(ir::verdict::transient, ir::time_point{});  // 1 h earlier
  ASSERT_EQ(step.what, ir::next_step::action::call_again);
  EXPECT_EQ(step.delay, 10ms);
}

// Property: whatever the code sequence and limits, the result is a success iff the last call's
// verdict was success, and no call starts after the deadline.
TEST(RetryProperty, SuccessIffTheLastCallSucceeded) {
  const std::uint32_t codes[] = {0, 13024, pending, 1722, 170, 5, 87, 99999, 1726};
  ir::splitmix64 rng(2024);
  for (int trial = 0; trial < 2000; ++trial) {
    const auto attempts = 1 + rng() % 12;
    const auto timeout_ms = rng() % 300;
    const std::string text = "attempts=" + std::to_string(attempts) +
                             ", timeout=" + std::to_string(timeout_ms) +
                             "ms, initial=7ms, jitter=full, seed=" + std::to_string(rng());
    const auto p = ir::retry_policy::parse(text).value();
    std::vector<std::uint32_t> sequence;
    for (int i = 0; i < 16; ++i) sequence.push_back(codes[rng() % std::size(codes)]);
    recorder rec;
    std::uint32_t last = 0;
    const auto r = ir::retry(
        p,
        [&, i = std::size_t{0}]() mutable {
          last = sequence[i++ % sequence.size()];
          rec.call_starts.push_back(rec.time.elapsed());
          return last;
        },
        rec.options());
    const bool last_succeeded = ir::default_verdict(last) == ir::verdict::success;
    ASSERT_EQ(static_cast<bool>(r), last_succeeded) << text;
    if (r) {
      EXPECT_EQ(ir::to_underlying(r.value()), last);
    } else {
      EXPECT_EQ(r.error().code, ir::win32_error{last});
      EXPECT_EQ(r.error().calls, rec.call_starts.size());
    }
    ASSERT_LE(rec.call_starts.size(), attempts) << text;
    for (auto start : rec.call_starts) {
      ASSERT_LE(start, std::chrono::milliseconds(timeout_ms)) << text;
    }
  }
}
