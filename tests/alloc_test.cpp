// SPDX-License-Identifier: BSL-1.0
// No path of the retry loop allocates: global operator new is replaced with a counting one.
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "counting_new.hpp"

namespace ir = ipsec_retry;
using namespace std::chrono_literals;

namespace {

const ir::retry_policy& policy();

// Allocations made while `f` runs. The shared policy is parsed first: parsing (which may
// allocate: the tokenizer collects items) is configuration, not the loop.
template <class F>
std::uint64_t allocations_during(F&& f) {
  (void)policy();
  const std::uint64_t before = allocation_count.load();
  f();
  return allocation_count.load() - before;
}

const ir::retry_policy& policy() {
  static const auto p = ir::retry_policy::parse("attempts=5, initial=1ms, timeout=1s").value();
  return p;
}

}  // namespace

TEST(Allocations, CountingWorks) {
  EXPECT_GE(allocations_during([] {
              int* volatile p = new int(1);  // volatile: the pair cannot be elided
              delete p;
            }),
            1u)
      << "the counter must see a plain new, or the zeros below prove nothing";
}

TEST(Allocations, NoneOnAnyPathInVirtualTime) {
  struct path {
    const char* name;
    std::uint32_t codes[5];
    bool succeeds;
    ir::stop_reason reason;
  };
  const path paths[] = {
      {"success", {0, 0, 0, 0, 0}, true, {}},
      {"retry then success", {13023, 1722, 170, 0, 0}, true, {}},
      {"attempts exhausted",
       {13023, 13023, 13023, 13023, 13023},
       false,
       ir::stop_reason::attempts_exhausted},
      {"permanent", {13023, 5, 0, 0, 0}, false, ir::stop_reason::permanent_error},
  };
  for (const auto& p : paths) {
    ir::virtual_time vt;
    int i = 0;
    bool ok = false;
    ir::stop_reason reason{};
    const std::uint64_t n = allocations_during([&] {
      const auto r = ir::retry(
          policy(), [&] { return p.codes[i++]; },
          ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()});
      ok = static_cast<bool>(r);
      if (!r) reason = r.error().reason;
    });
    EXPECT_EQ(n, 0u) << p.name;
    EXPECT_EQ(ok, p.succeeds) << p.name;
    if (!p.succeeds) {
      EXPECT_EQ(reason, p.reason) << p.name;
    }
  }
}

TEST(Allocations, NoneOnDeadlineAndCancelPaths) {
  ir::virtual_time vt;
  std::stop_source source;
  const auto deadline_policy = ir::retry_policy::parse("timeout=50ms, initial=10ms").value();
  EXPECT_EQ(allocations_during([&] {
              const auto r = ir::retry(
                  deadline_policy, [] { return 13023u; },
                  ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()});
              EXPECT_EQ(r.error().reason, ir::stop_reason::deadline_exceeded);
            }),
            0u);
  EXPECT_EQ(allocations_during([&] {
              const auto r = ir::retry(
                  deadline_policy, [] { return 13023u; },
                  ir::retry_options{.clock = vt.clock(),
                                    .sleeper = vt.sleeper(),
                                    .on_retry =
                                        [&](std::uint32_t call, const std::error_code&,
                                            std::chrono::nanoseconds) {
                                          if (call == 2) source.request_stop();
                                        },
                                    .stop = source.get_token()});
              EXPECT_EQ(r.error().reason, ir::stop_reason::cancelled);
            }),
            0u);
}

TEST(Allocations, NoneWithTheRealClockAndSleeper) {
  // The condition-variable sleep (with a stop_callback) allocates nothing either.
  std::stop_source source;
  const auto real = ir::retry_policy::parse("attempts=3, initial=1ms, jitter=none").value();
  EXPECT_EQ(allocations_during([&] {
              const auto r = ir::retry(
                  real, [] { return 13023u; }, ir::retry_options{.stop = source.get_token()});
              EXPECT_EQ(r.error().reason, ir::stop_reason::attempts_exhausted);
            }),
            0u);
  EXPECT_EQ(allocations_during([&] {
              const auto r = ir::retry(real, [] { return 0u; });
              EXPECT_TRUE(r);
            }),
            0u);
}

TEST(Allocations, NoneInTheStepApi) {
  EXPECT_EQ(allocations_during([&] {
              ir::retry_state state(policy(), ir::time_point{});
              ir::time_point now{};
              for (int i = 0; i < 5; ++i) {
                const auto step = state.on_call_end(ir::verdict::transient, now);
                if (step.what != ir::next_step::action::call_again) break;
                now += step.delay;
              }
            }),
            0u);
}

// Issue 7: coalesced waits are opt-in and cost nothing when off. A typed operation without a
// `coalescing` registry runs the plain loop: no allocation (the simulated agent's own table is
// set up before counting; its calls look names up without allocating).
TEST(Allocations, NoneInATypedOperationWithoutCoalescing) {
  ir::virtual_time vt;
  ir::ipsec::simulated_agent agent(vt.clock());
  agent.begin_deletion(ir::ipsec::policy_kind::quick_mode, L"corp-qm", vt.now() + 730ms);
  const auto p = ir::retry_policy::parse("initial=10ms, jitter=none").value();
  bool ok = false;
  EXPECT_EQ(
      allocations_during([&] {
        const auto r = ir::ipsec::delete_qm_policy(
            agent, L"corp-qm", p, ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()});
        ok =
            r && r.value().how == ir::ipsec::completion::gone_after_pending && r.value().calls == 8;
      }),
      0u);
  EXPECT_TRUE(ok);
}

// The typed fast path: a first call that succeeds never builds the engine, and allocates
// nothing either.
TEST(Allocations, NoneInATypedOperationWhoseFirstCallSucceeds) {
  ir::virtual_time vt;
  ir::ipsec::simulated_agent agent(vt.clock());
  agent.install(ir::ipsec::policy_kind::quick_mode, L"corp-qm", /*in_use_by_sas=*/false);
  const auto p = ir::retry_policy::parse("initial=10ms, jitter=none").value();
  bool ok = false;
  EXPECT_EQ(allocations_during([&] {
              const auto r = ir::ipsec::delete_qm_policy(
                  agent, L"corp-qm", p,
                  ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()});
              ok = r && r.value().how == ir::ipsec::completion::done && r.value().calls == 1;
            }),
            0u);
  EXPECT_TRUE(ok);
}

// A host's hot path with the call-site registry: look the site up (policy copy + budget
// pointer), retry under its budget until the budget refuses, and succeed under it.
TEST(Allocations, NoneInASiteLookupAndABudgetGuardedRetry) {
  ir::ipsec::call_site_registry sites;
  ASSERT_TRUE(
      sites.load_config("budget agent: max_tokens=4\n"
                        "qm.delete: initial=1ms, jitter=none, budget=agent\n"));
  ir::virtual_time vt;
  bool exhausted = false;
  bool succeeded = false;
  EXPECT_EQ(allocations_during([&] {
              const auto site = sites.site("qm.delete");
              const auto options = ir::retry_options{
                  .clock = vt.clock(), .sleeper = vt.sleeper(), .guard = site.value().guard()};
              const auto refused = ir::retry(
                  site.value().policy, [] { return 1723u; }, options);  // charged
              exhausted = !refused && refused.error().reason == ir::stop_reason::budget_exhausted;
              succeeded = static_cast<bool>(ir::retry(
                  site.value().policy, [] { return 0u; }, options));
            }),
            0u);
  EXPECT_TRUE(exhausted);
  EXPECT_TRUE(succeeded);
}

// The options added in 0.2: event hooks, a site name, a translator that is installed but not
// needed, a stop-token op, and the clock reads after a hook. None of them allocates.
TEST(Allocations, NoneWithEventsSiteTranslatorAndStopTokenOp) {
  ir::virtual_time vt;
  std::uint32_t events = 0;
  std::uint32_t calls = 0;
  const auto options =
      ir::options()
          .with_time(vt)
          .with_site("qm.delete")
          .with_on_event([&](const ir::retry_event&) { ++events; })
          .with_on_retry([](std::uint32_t, const std::error_code&, std::chrono::nanoseconds) {})
          .with_exceptions(ir::system_error_translator{});
  const auto op = [&](const std::stop_token&) { return ++calls < 4 ? 13023u : 0u; };
  bool succeeded = false;
  EXPECT_EQ(
      allocations_during([&] { succeeded = static_cast<bool>(ir::retry(policy(), op, options)); }),
      0u);
  EXPECT_TRUE(succeeded);
  EXPECT_EQ(events, 4u) << "three retrying events and one succeeded";
  calls = 0;
  bool failed = false;
  EXPECT_EQ(allocations_during([&] {
              failed = !ir::retry(
                  policy(), [] { return 13023u; }, options);
            }),
            0u)
      << "giving up, with its event";
  EXPECT_TRUE(failed);
}
