// SPDX-License-Identifier: BSL-1.0
// The circuit breaker and the guard contract (guards.hpp): admit / record / release, tickets.
// The retry budget's tests are in guards_test.cpp.
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/coalesce.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <stop_token>

namespace ir = ipsec_retry;
using namespace std::chrono_literals;
using state = ir::circuit_breaker::state;

namespace {

ir::retry_policy policy(const char* text) {
  return ir::retry_policy::parse(text).value();
}

// One call through the breaker that returns `code`; false if the breaker refused it.
bool call(ir::circuit_breaker& b, std::uint32_t code) {
  const auto a = b.admit();
  if (a.refused) return false;
  b.record(a.ticket, code == 0 ? ir::verdict::success : ir::verdict::transient, code);
  return true;
}

// Opens `b` (threshold 1) and lets its cool-down pass: the next admit is the probe.
void open_and_cool(ir::circuit_breaker& b, ir::virtual_time& vt, std::chrono::nanoseconds cool) {
  ASSERT_TRUE(call(b, 1722u));
  ASSERT_EQ(b.current(), state::open);
  vt.advance(cool);
}

struct throwing_agent {
  int calls = 0;
  template <class... A>
  ir::win32_error delete_policy(A&&...) {
    ++calls;
    throw std::runtime_error("agent call failed");
  }
  template <class... A>
  ir::win32_error add_policy(A&&...) {
    return delete_policy();
  }
  template <class... A>
  ir::win32_error set_policy(A&&...) {
    return delete_policy();
  }
};

}  // namespace

TEST(CircuitBreaker, OpensAfterConsecutiveTransportFailuresAndFailsFast) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 3, .cool_down = 1s}, vt.clock());
  int calls = 0;
  const auto r = ir::retry(
      policy("attempts=10, initial=10ms, jitter=none"),
      [&] {
        ++calls;
        return 1722u;  // RPC_S_SERVER_UNAVAILABLE
      },
      ir::retry_options{
          .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::breaker_guard{&breaker}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::circuit_open);
  EXPECT_EQ(r.error().calls, 3u);
  EXPECT_EQ(r.error().code, ir::win32_error::rpc_s_server_unavailable);
  EXPECT_EQ(breaker.current(), state::open);

  // Another caller fails fast without calling, keeping the last code.
  const auto fast = ir::retry(
      policy("attempts=10"), [&] { return ++calls, 0u; },
      ir::retry_options{
          .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::breaker_guard{&breaker}});
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().reason, ir::stop_reason::circuit_open);
  EXPECT_EQ(fast.error().calls, 0u);
  EXPECT_EQ(fast.error().code, ir::win32_error::rpc_s_server_unavailable);
  EXPECT_EQ(calls, 3);
}

TEST(CircuitBreaker, HalfOpenProbeClosesOrReopensIt) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  ASSERT_TRUE(call(breaker, 1727u));
  ASSERT_EQ(breaker.current(), state::open);
  EXPECT_TRUE(breaker.admit().refused);  // refused during the cool-down
  vt.advance(1s);
  const auto probe = breaker.admit();
  ASSERT_FALSE(probe.refused) << "the first caller after the cool-down is the probe";
  EXPECT_TRUE(probe.ticket.probe);
  EXPECT_TRUE(breaker.admit().refused) << "only one probe at a time";
  breaker.record(probe.ticket, ir::verdict::transient, 1722u);  // the probe failed: open again
  EXPECT_EQ(breaker.current(), state::open);
  vt.advance(1s);
  const auto second = breaker.admit();
  ASSERT_FALSE(second.refused);
  breaker.record(second.ticket, ir::verdict::success, 0u);  // the probe succeeded: closed
  EXPECT_EQ(breaker.current(), state::closed);
  EXPECT_FALSE(breaker.admit().refused);
}

TEST(CircuitBreaker, NonTransportResultsResetTheCount) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 2, .cool_down = 1s}, vt.clock());
  call(breaker, 1722u);
  call(breaker, 13023u);  // the agent answered: reachable
  call(breaker, 1722u);
  EXPECT_EQ(breaker.current(), state::closed);
  call(breaker, 1820u);
  EXPECT_EQ(breaker.current(), state::open);
}

TEST(CircuitBreaker, Breaker_ReleasesProbeWhenOpThrows) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  open_and_cool(breaker, vt, 1s);
  const ir::retry_options options{
      .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::breaker_guard{&breaker}};
  EXPECT_THROW(
      (void)ir::retry(
          policy("attempts=3"), []() -> std::uint32_t { throw std::runtime_error("op"); }, options),
      std::runtime_error);
  EXPECT_EQ(breaker.current(), state::half_open);
  int calls = 0;
  const auto next = ir::retry(
      policy("attempts=3"), [&] { return ++calls, 0u; }, options);
  ASSERT_TRUE(next) << "the thrown probe was released: the next caller is the probe";
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(breaker.current(), state::closed);
}

// The breaker first, a budget second: the budget refuses a retry that the breaker had already
// admitted as its half-open probe. The probe goes back.
TEST(CircuitBreaker, Breaker_ReleasesProbeWhenLaterGuardRefuses) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  ir::retry_budget budget({.max_tokens = 2, .token_ratio = 1});
  const ir::retry_options options{
      .clock = vt.clock(),
      .sleeper = vt.sleeper(),
      .guard = ir::guard_all{ir::breaker_guard{&breaker}, ir::budget_guard{&budget}}};
  // Call 1 is admitted while closed; while it runs another caller opens the breaker, the
  // cool-down passes and the budget is drained. Its retry is admitted as the probe by the
  // breaker, then refused by the budget.
  const auto r = ir::retry(
      policy("attempts=3, initial=1ms"),
      [&] {
        open_and_cool(breaker, vt, 1s);
        budget.on_failure();
        return 1723u;  // RPC_S_SERVER_TOO_BUSY: a late result, and 1 more token: 0 left
      },
      options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(breaker.current(), state::half_open);
  const auto probe = breaker.admit();
  ASSERT_FALSE(probe.refused) << "the refused retry's probe slot was released";
  breaker.record(probe.ticket, ir::verdict::success, 0u);
  EXPECT_EQ(breaker.current(), state::closed);
}

TEST(CircuitBreaker, Breaker_ReleasesProbeWhenStoppedBetweenAdmitAndCall) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  std::stop_source stop;
  // The retry is admitted (as the probe) before the hook and the sleep; the hook stops it.
  const auto r = ir::retry(
      policy("attempts=3, initial=1ms"),
      [&] {
        open_and_cool(breaker, vt, 1s);
        return 13023u;
      },
      ir::retry_options{.clock = vt.clock(),
                        .sleeper = vt.sleeper(),
                        .on_retry = [&](std::uint32_t, const std::error_code&,
                                        std::chrono::nanoseconds) { stop.request_stop(); },
                        .stop = stop.get_token(),
                        .guard = ir::breaker_guard{&breaker}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::cancelled);
  EXPECT_EQ(r.error().calls, 1u);
  EXPECT_EQ(breaker.current(), state::half_open);
  const auto probe = breaker.admit();
  EXPECT_FALSE(probe.refused) << "the stopped caller's probe slot was released";
}

// The same promise in the coalesced loop (run_coalesced): an agent call that throws.
TEST(CircuitBreaker, Breaker_ReleasesProbeWhenCoalescedAgentThrows) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  open_and_cool(breaker, vt, 1s);
  ir::ipsec::pending_deletion_waits waits;
  throwing_agent agent;
  EXPECT_THROW(
      (void)ir::ipsec::delete_qm_policy(
          agent, L"corp-qm", ir::ipsec::builtin_policy(ir::ipsec::policy_operation::remove),
          ir::retry_options{
              .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = ir::breaker_guard{&breaker}},
          {.waits = &waits}),
      std::runtime_error);
  EXPECT_EQ(agent.calls, 1);
  EXPECT_FALSE(breaker.admit().refused) << "the coalesced caller's probe was released";
}

TEST(CircuitBreaker, Breaker_LateResultDoesNotCloseHalfOpen) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  const auto old_success = breaker.admit();  // admitted while closed, returns late
  const auto old_failure = breaker.admit();
  ASSERT_FALSE(old_success.refused);
  ASSERT_FALSE(old_failure.refused);
  open_and_cool(breaker, vt, 1s);
  const auto probe = breaker.admit();
  ASSERT_FALSE(probe.refused);
  breaker.record(old_success.ticket, ir::verdict::success, 0u);
  EXPECT_EQ(breaker.current(), state::half_open) << "a late success does not close it";
  EXPECT_TRUE(breaker.admit().refused) << "the real probe is still in flight";
  breaker.record(probe.ticket, ir::verdict::transient, 1722u);
  EXPECT_EQ(breaker.current(), state::open) << "the probe's own result decides";

  vt.advance(1s);
  const auto next_probe = breaker.admit();
  ASSERT_FALSE(next_probe.refused);
  breaker.record(old_failure.ticket, ir::verdict::transient, 1722u);
  EXPECT_EQ(breaker.current(), state::half_open) << "a late failure does not reopen it";
  breaker.record(next_probe.ticket, ir::verdict::success, 0u);
  EXPECT_EQ(breaker.current(), state::closed);
}

// A probe that hangs (never records, never releases) is written off after a cool-down.
TEST(CircuitBreaker, Breaker_WritesOffAProbeThatNeverReturns) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  open_and_cool(breaker, vt, 1s);
  const auto hung = breaker.admit();
  ASSERT_FALSE(hung.refused);
  vt.advance(999ms);
  EXPECT_TRUE(breaker.admit().refused);
  vt.advance(1ms);
  const auto fresh = breaker.admit();
  ASSERT_FALSE(fresh.refused) << "a probe out for a whole cool-down is written off";
  breaker.record(hung.ticket, ir::verdict::transient, 1722u);
  EXPECT_EQ(breaker.current(), state::half_open) << "the written-off probe no longer counts";
  breaker.release(hung.ticket);
  EXPECT_TRUE(breaker.admit().refused) << "nor does its release free the new probe's slot";
  breaker.record(fresh.ticket, ir::verdict::success, 0u);
  EXPECT_EQ(breaker.current(), state::closed);
}

TEST(Guards, GuardAllReleasesTheFirstWhenTheSecondRefuses) {
  ir::virtual_time vt;
  ir::circuit_breaker first({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  ir::circuit_breaker second({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  open_and_cool(first, vt, 1s);      // first: half-open, its probe slot free
  ASSERT_TRUE(call(second, 1722u));  // second: open, refusing
  const ir::guard_all both{ir::breaker_guard{&first}, ir::breaker_guard{&second}};
  const auto refused = both.admit(1);
  ASSERT_TRUE(refused.refused);
  EXPECT_EQ(refused.refused->reason, ir::stop_reason::circuit_open);
  EXPECT_FALSE(first.admit().refused) << "first's probe slot was given back";
}

// Tickets of guards that keep nothing per call cost nothing.
static_assert(std::is_empty_v<ir::no_guard::ticket>);
static_assert(std::is_empty_v<ir::budget_guard::ticket>);
static_assert(sizeof(ir::held_admission<ir::no_guard>) == 1);
static_assert(sizeof(ir::held_admission<ir::budget_guard>) == 2 * sizeof(void*));

TEST(CircuitBreakers, OnePerServer) {
  ir::virtual_time vt;
  ir::circuit_breakers breakers({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  call(breakers.for_server(L"dc01"), 1722u);
  EXPECT_EQ(breakers.for_server(L"dc01").current(), state::open);
  EXPECT_EQ(breakers.for_server(L"dc02").current(), state::closed);
  EXPECT_EQ(&breakers.for_server(L"dc01"), &breakers.for_server(L"dc01"));
}

TEST(CircuitBreakers, ForServer_IgnoresCase) {
  ir::virtual_time vt;
  ir::circuit_breakers breakers({.failure_threshold = 1, .cool_down = 1s}, vt.clock());
  EXPECT_EQ(&breakers.for_server(L"srv1"), &breakers.for_server(L"SRV1"));
  EXPECT_EQ(&breakers.for_server(L"Srv1.Corp.Example"), &breakers.for_server(L"SRV1.corp.EXAMPLE"));
  call(breakers.for_server(L"srv1"), 1722u);
  EXPECT_EQ(breakers.for_server(L"SRV1").current(), state::open);
  // Latin-1 letters map as in Windows' upper-case table.
  EXPECT_EQ(&breakers.for_server(L"serveur-\u00e9t\u00e9"),
            &breakers.for_server(L"SERVEUR-\u00c9T\u00c9"));
  EXPECT_EQ(&breakers.for_server(L"\u00ff\u00b5"), &breakers.for_server(L"\u0178\u039c"));
  // Different names stay apart: no folding, no locale, and the division sign is no letter.
  EXPECT_NE(&breakers.for_server(L"srv1"), &breakers.for_server(L"srv2"));
  EXPECT_NE(&breakers.for_server(L"stra\u00dfe"), &breakers.for_server(L"STRASSE"));
  EXPECT_NE(&breakers.for_server(L"a\u00f7"), &breakers.for_server(L"a\u00d7"));
  EXPECT_NE(&breakers.for_server(L""), &breakers.for_server(L"localhost"));
  static_assert(ir::ordinal_upcase(L'z') == L'Z' && ir::ordinal_upcase(L'{') == L'{');
  static_assert(ir::ordinal_upcase(L'\u00fe') == L'\u00de');
}

// 24 h of virtual time, one caller a minute, against an agent that is down for the first 6 h.
// The callers take turns at every way of not reporting back: a throwing op, a stop between
// admit and call, a retry refused by a drained budget listed after the breaker. The breaker
// must let a probe through after each cool-down and close once the agent is back.
TEST(CircuitBreaker, Breaker_RecoversWithin24HoursOfVirtualTime) {
  ir::virtual_time vt;
  ir::circuit_breaker breaker({.failure_threshold = 5, .cool_down = 30s}, vt.clock());
  ir::retry_budget budget({.max_tokens = 2, .token_ratio = 0.001});
  const auto agent_up = [&] { return vt.elapsed() >= 6h; };
  int succeeded_after_recovery = 0;
  int refused_after_recovery = 0;
  std::chrono::nanoseconds first_success_after_recovery{};
  for (int minute = 0; minute < 24 * 60; ++minute) {
    vt.set(ir::time_point{std::chrono::minutes{minute}});
    std::stop_source stop;
    const int kind = minute % 4;
    auto op = [&]() -> std::uint32_t {
      if (kind == 1) throw std::runtime_error("op");
      if (kind == 3) budget.on_failure();  // the budget is drained: no retry allowed
      return agent_up() && kind != 3 ? 0u : 1722u;
    };
    const ir::retry_options options{
        .clock = vt.clock(),
        .sleeper = vt.sleeper(),
        .on_retry =
            [&](std::uint32_t, const std::error_code&, std::chrono::nanoseconds) {
              if (kind == 2) stop.request_stop();
            },
        .stop = stop.get_token(),
        .guard = ir::guard_all{ir::breaker_guard{&breaker}, ir::budget_guard{&budget}}};
    try {
      const auto r = ir::retry(policy("attempts=3, initial=1ms, jitter=none"), op, options);
      if (kind == 0 && agent_up()) {
        if (r) {
          if (succeeded_after_recovery++ == 0) first_success_after_recovery = vt.elapsed();
        } else {
          ++refused_after_recovery;
        }
      }
    } catch (const std::runtime_error&) {
    }
  }
  EXPECT_EQ(refused_after_recovery, 0) << "the first plain caller after 6 h already succeeds";
  EXPECT_EQ(succeeded_after_recovery, 18 * 60 / 4);
  EXPECT_LE(first_success_after_recovery, 6h + 4min);
  EXPECT_EQ(breaker.current(), state::closed);
}
