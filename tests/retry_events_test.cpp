// SPDX-License-Identifier: BSL-1.0
// What the loop reports (retry_options.hpp, retry_error.hpp): events with the site's name, the
// attempt's duration and the code; the site on the error; human durations; what() once; the
// stop token handed to the op; exception translators.
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include "loop_test_support.hpp"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <vector>

using loop_test::pending;
using loop_test::policy;

namespace {

struct event_log {
  std::vector<ir::retry_event> events;
  auto hook() {
    return [this](const ir::retry_event& e) { events.push_back(e); };
  }
};

// Each call takes `latency` of virtual time and returns codes[i] (the last one forever).
auto slow_op(ir::virtual_time& vt, nanoseconds latency, std::vector<std::uint32_t> codes) {
  return [&vt, latency, codes, i = std::size_t{0}]() mutable {
    vt.advance(latency);
    return codes[std::min(i++, codes.size() - 1)];
  };
}

// A stand-in for wil::ResultException / winrt::hresult_error: an exception with an HRESULT.
struct hresult_exception : std::exception {
  std::uint32_t hr;
  explicit hresult_exception(std::uint32_t h) : hr(h) {}
};

}  // namespace

TEST(RetryEvents, RetryingThenSucceededCarrySiteAttemptAndCode) {
  ir::virtual_time vt;
  event_log log;
  const auto r =
      ir::retry(policy("initial=10ms, jitter=none"), slow_op(vt, 3ms, {pending, pending, 13025}),
                ir::options().with_time(vt).with_site("qm.delete").with_on_event(log.hook()));
  ASSERT_TRUE(r);
  ASSERT_EQ(log.events.size(), 3u);
  const auto& first = log.events[0];
  EXPECT_EQ(first.what, ir::retry_event::kind::retrying);
  EXPECT_EQ(first.site, "qm.delete");
  EXPECT_EQ(first.call, 1u);
  EXPECT_EQ(first.code, ir::win32_error::ipsec_qm_policy_pending_deletion);
  EXPECT_EQ(first.attempt, 3ms);
  EXPECT_EQ(first.elapsed, 3ms);
  EXPECT_EQ(first.next_delay, 10ms);
  EXPECT_EQ(log.events[1].call, 2u);
  EXPECT_EQ(log.events[1].elapsed, 16ms) << "3 + 10 + 3";
  EXPECT_EQ(log.events[1].next_delay, 20ms);
  const auto& done = log.events[2];
  EXPECT_EQ(done.what, ir::retry_event::kind::succeeded);
  EXPECT_EQ(done.call, 3u);
  EXPECT_EQ(done.attempt, 3ms);
  EXPECT_EQ(done.elapsed, 39ms);
  EXPECT_EQ(done.code, ir::win32_error::warning_ipsec_qm_policy_pruned) << "the warning shows";
}

TEST(RetryEvents, FastPathSuccessIsReportedWithItsDuration) {
  ir::virtual_time vt;
  event_log log;
  const auto r = ir::retry(policy(""), slow_op(vt, 2ms, {0}),
                           ir::options().with_time(vt).with_on_event(log.hook()));
  ASSERT_TRUE(r);
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].what, ir::retry_event::kind::succeeded);
  EXPECT_EQ(log.events[0].call, 1u);
  EXPECT_EQ(log.events[0].attempt, 2ms);
  EXPECT_FALSE(log.events[0].code);
  EXPECT_EQ(log.events[0].site, "");
}

TEST(RetryEvents, GaveUpCarriesTheReasonAndTheLastCode) {
  ir::virtual_time vt;
  event_log log;
  const auto r =
      ir::retry(policy("attempts=2, initial=10ms, jitter=none"), slow_op(vt, 1ms, {pending}),
                ir::options().with_time(vt).with_site("mm.set").with_on_event(log.hook()));
  ASSERT_FALSE(r);
  ASSERT_EQ(log.events.size(), 2u);
  const auto& last = log.events.back();
  EXPECT_EQ(last.what, ir::retry_event::kind::gave_up);
  EXPECT_EQ(last.reason, ir::stop_reason::attempts_exhausted);
  EXPECT_EQ(last.call, 2u);
  EXPECT_EQ(last.code, ir::win32_error::ipsec_qm_policy_pending_deletion);
  EXPECT_EQ(last.attempt, 1ms);
  EXPECT_EQ(last.elapsed, 12ms);
  EXPECT_EQ(last.site, "mm.set");
}

TEST(RetryEvents, CancelledBeforeTheFirstCallGivesUpWithNoCall) {
  ir::virtual_time vt;
  event_log log;
  std::stop_source source;
  source.request_stop();
  const auto r = ir::retry(
      policy(""), [] { return 0u; },
      ir::options().with_time(vt).with_stop(source.get_token()).with_on_event(log.hook()));
  ASSERT_FALSE(r);
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].what, ir::retry_event::kind::gave_up);
  EXPECT_EQ(log.events[0].reason, ir::stop_reason::cancelled);
  EXPECT_EQ(log.events[0].call, 0u);
  EXPECT_EQ(log.events[0].attempt, 0ns);
}

TEST(RetryError, CarriesTheSiteAndPrintsItFirst) {
  ir::virtual_time vt;
  const auto r = ir::retry(
      policy("attempts=1"), [] { return pending; },
      ir::options().with_time(vt).with_site("qm.delete"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().site, "qm.delete");
  EXPECT_EQ(r.error().message().rfind("qm.delete: ERROR_IPSEC_QM_POLICY_PENDING_DELETION", 0), 0u)
      << r.error().message();
}

// Finding (issue 12): message() printed raw nanoseconds ("in 120318797ns").
TEST(RetryError, MessagePrintsHumanDurations) {
  const ir::retry_error e{ir::make_error_code(ir::win32_error{pending}),
                          ir::stop_reason::deadline_exceeded, 11, 120318797ns};
  EXPECT_NE(e.message().find("after 11 calls in 120ms]"), std::string::npos) << e.message();
}

TEST(FormatHumanDuration, ThreeSignificantDigitsInTheLargestUnit) {
  const std::pair<nanoseconds, const char*> cases[] = {{0ns, "0ns"},
                                                       {999ns, "999ns"},
                                                       {1500ns, "1.5us"},
                                                       {15600us, "15.6ms"},
                                                       {120318797ns, "120ms"},
                                                       {1270ms, "1.27s"},
                                                       {5s, "5s"},
                                                       {90s, "1.5min"},
                                                       {2h, "2h"},
                                                       {-1270ms, "-1.27s"},
                                                       {1999ms, "2s"},
                                                       {1234567ns, "1.23ms"},
                                                       {nanoseconds::max(), "2562048h"},
                                                       {nanoseconds::min(), "-2562048h"}};
  for (const auto& [d, text] : cases) EXPECT_EQ(ir::format_human_duration(d), text) << d.count();
}

// Finding (issue 12): `.value()`'s what() repeated the message with the category's text added.
TEST(RetryError, ValueThrowsWithTheMessageOnce) {
  ir::virtual_time vt;
  const auto r = ir::retry(
      policy("attempts=1"), [] { return pending; },
      ir::options().with_time(vt).with_site("qm.add"));
  ASSERT_FALSE(r);
  try {
    (void)r.value();
    FAIL() << "value() of a failure must throw";
  } catch (const ir::retry_exception& e) {
    EXPECT_EQ(std::string(e.what()), r.error().message());
    EXPECT_EQ(e.code(), ir::win32_error::ipsec_qm_policy_pending_deletion);
    EXPECT_EQ(e.error(), r.error());
  }
}

TEST(RetryOps, AnOpTakingAStopTokenGetsTheLoopsToken) {
  ir::virtual_time vt;
  std::stop_source source;
  int calls = 0;
  const auto r = ir::retry(
      policy("initial=10ms, jitter=none"),
      [&](const std::stop_token& stop) {
        ++calls;
        EXPECT_TRUE(stop.stop_possible()) << "the loop's own token, not a default one";
        if (calls == 2) source.request_stop();  // a long RPC abandoned from inside the call
        return stop.stop_requested() ? 1223u : pending;
      },
      ir::options().with_time(vt).with_stop(source.get_token()));
  ASSERT_FALSE(r);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.error().code, ir::win32_error::cancelled);
}

TEST(ExceptionTranslator, SystemErrorIsClassifiedLikeItsCode) {
  ir::virtual_time vt;
  int calls = 0;
  const auto r = ir::retry(
      policy("initial=10ms, jitter=none"),
      [&] {
        if (++calls < 3) {
          throw std::system_error(ir::make_error_code(ir::win32_error{pending}), "SetQMPolicy");
        }
        return 0u;
      },
      ir::options().with_time(vt).with_exceptions(ir::system_error_translator{}));
  ASSERT_TRUE(r);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(vt.elapsed(), 30ms);
}

TEST(ExceptionTranslator, ByDefaultExceptionsPassThroughUntouched) {
  ir::virtual_time vt;
  int calls = 0;
  EXPECT_THROW((void)ir::retry(
                   policy(""),
                   [&]() -> std::uint32_t {
                     ++calls;
                     throw std::system_error(ir::make_error_code(ir::win32_error{pending}));
                   },
                   ir::options().with_time(vt)),
               std::system_error);
  EXPECT_EQ(calls, 1) << "nothing is retried on an exception";
}

TEST(ExceptionTranslator, AUserTranslatorMapsItsOwnTypeAndRethrowsTheRest) {
  const auto translate = [](std::exception_ptr e) -> std::optional<std::error_code> {
    try {
      std::rethrow_exception(e);
    } catch (const hresult_exception& x) {
      return ir::make_error_code(ir::hresult{x.hr});
    } catch (...) {
      return ir::translate_system_error(e);
    }
  };
  ir::virtual_time vt;
  int calls = 0;
  const auto r = ir::retry(
      policy("attempts=3, initial=1ms, jitter=none"),
      [&]() -> std::uint32_t {
        ++calls;
        throw hresult_exception(0x800732DF);
      },
      ir::options().with_time(vt).with_exceptions(translate));
  ASSERT_FALSE(r);
  EXPECT_EQ(calls, 3) << "13023 is transient";
  EXPECT_EQ(r.error().reason, ir::stop_reason::attempts_exhausted);
  EXPECT_EQ(r.error().code, ir::win32_error::ipsec_qm_policy_pending_deletion);
  EXPECT_THROW((void)ir::retry(
                   policy(""), []() -> std::uint32_t { throw std::logic_error("bug"); },
                   ir::options().with_time(vt).with_exceptions(translate)),
               std::logic_error)
      << "what the translator does not know propagates, as the same type";
}

TEST(ExceptionTranslator, ATranslatedSuccessCodeIsRefusedNotInvented) {
  ir::virtual_time vt;
  const auto r = ir::retry(
      policy(""),
      []() -> std::uint32_t {
        throw std::system_error(
            ir::make_error_code(ir::win32_error::warning_ipsec_qm_policy_pruned));
      },
      ir::options().with_time(vt).with_exceptions(ir::system_error_translator{}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(r.error().code, ir::win32_error::warning_ipsec_qm_policy_pruned);
}
