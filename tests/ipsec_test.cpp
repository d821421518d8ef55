// SPDX-License-Identifier: BSL-1.0
// The ipsec/ layer: the simulated Policy Agent (docs/simulator.md), the typed QM/MM wrappers and
// their idempotency rules, the docs/cli.md/5 numbers, and the call-site registry. Virtual
// time throughout; the multi-threaded tests also run under TSan.
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;
using ipsec::completion;
using ipsec::policy_kind;
using ipsec::policy_operation;
using ipsec::simulated_agent;
using std::chrono::nanoseconds;

namespace {

// Codes by number, so failures print numbers.
constexpr std::uint32_t success = 0;
constexpr std::uint32_t access_denied = 5;
constexpr std::uint32_t rpc_call_failed = 1726;
constexpr std::uint32_t qm_exists = 13000;
constexpr std::uint32_t qm_not_found = 13001;
constexpr std::uint32_t mm_exists = 13003;
constexpr std::uint32_t mm_not_found = 13004;
constexpr std::uint32_t mm_auth_not_found = 13011;
constexpr std::uint32_t mm_pending = 13021;
constexpr std::uint32_t mm_auth_pending = 13022;
constexpr std::uint32_t qm_pending = 13023;
constexpr std::uint32_t qm_pruned = 13025;

std::uint32_t u(ir::win32_error code) {
  return ir::to_underlying(code);
}

ir::retry_policy policy(std::string_view text) {
  auto p = ir::retry_policy::parse(text);
  EXPECT_TRUE(p) << text << ": " << (p ? "" : p.error().message());
  return p ? p.value() : ir::retry_policy{};
}

std::vector<nanoseconds> ms(std::initializer_list<long long> values) {
  std::vector<nanoseconds> out;
  for (long long v : values) out.push_back(std::chrono::milliseconds(v));
  return out;
}

// A kind of policy with the codes the agent must use for it.
struct kind_case {
  const char* label;
  policy_kind kind;
  std::uint32_t exists;
  std::uint32_t not_found;
  std::uint32_t pending;
};
constexpr kind_case kinds[] = {
    {"QM", policy_kind::quick_mode, qm_exists, qm_not_found, qm_pending},
    {"MM", policy_kind::main_mode, mm_exists, mm_not_found, mm_pending},
};

enum class agent_op { add, set, remove, get };
constexpr agent_op all_ops[] = {agent_op::add, agent_op::set, agent_op::remove, agent_op::get};

const char* label(agent_op op) {
  switch (op) {
    case agent_op::add:
      return "add";
    case agent_op::set:
      return "set";
    case agent_op::remove:
      return "delete";
    case agent_op::get:
      return "get";
  }
  return "?";
}

std::uint32_t call(simulated_agent& agent, agent_op op, policy_kind kind, std::wstring_view name) {
  switch (op) {
    case agent_op::add:
      return u(agent.add_policy(kind, name, {}));
    case agent_op::set:
      return u(agent.set_policy(kind, name, {}));
    case agent_op::remove:
      return u(agent.delete_policy(kind, name));
    case agent_op::get:
      return u(agent.get_policy(kind, name));
  }
  return ~0u;
}

// Virtual time, an agent reading it, and retry options that sleep in it.
struct world {
  explicit world(nanoseconds deletion_time = 500ms) : agent(time.clock(), deletion_time) {}
  ir::virtual_time time;
  simulated_agent agent;
  auto options() { return ir::retry_options{.clock = time.clock(), .sleeper = time.sleeper()}; }
  ir::time_point at(nanoseconds since_start) const { return ir::time_point{} + since_start; }
};

// Forwards to a simulated_agent, recording when (since t = 0) each call started.
struct timed_agent {
  simulated_agent& agent;
  const ir::virtual_time& time;
  std::vector<nanoseconds> starts{};

  ir::win32_error add_policy(policy_kind k, std::wstring_view n, ipsec::native_policy p) {
    starts.push_back(time.elapsed());
    return agent.add_policy(k, n, p);
  }
  ir::win32_error set_policy(policy_kind k, std::wstring_view n, ipsec::native_policy p) {
    starts.push_back(time.elapsed());
    return agent.set_policy(k, n, p);
  }
  ir::win32_error delete_policy(policy_kind k, std::wstring_view n) {
    starts.push_back(time.elapsed());
    return agent.delete_policy(k, n);
  }
};

// The typed wrappers by kind, so one table covers QM and MM.
template <class Agent, class Options>
ir::retry_result<ipsec::operation_result> typed(policy_operation op, policy_kind kind, Agent& agent,
                                                std::wstring_view name, const ir::retry_policy& p,
                                                const Options& options,
                                                ipsec::add_rules rules = {}) {
  const bool qm = kind == policy_kind::quick_mode;
  switch (op) {
    case policy_operation::add:
      return qm ? ipsec::add_qm_policy(agent, name, {}, p, options, rules)
                : ipsec::add_mm_policy(agent, name, {}, p, options, rules);
    case policy_operation::set:
      return qm ? ipsec::set_qm_policy(agent, name, {}, p, options)
                : ipsec::set_mm_policy(agent, name, {}, p, options);
    case policy_operation::remove:
      return qm ? ipsec::delete_qm_policy(agent, name, p, options)
                : ipsec::delete_mm_policy(agent, name, p, options);
  }
  return ir::retry_error{};
}

void expect_success(const ir::retry_result<ipsec::operation_result>& r, std::uint32_t code,
                    completion how, std::uint32_t calls) {
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(u(r.value().code), code);
  EXPECT_EQ(r.value().how, how) << ipsec::to_string(r.value().how);
  EXPECT_EQ(r.value().calls, calls);
}

void expect_failure(const ir::retry_result<ipsec::operation_result>& r, std::uint32_t code,
                    ir::stop_reason reason, std::uint32_t calls) {
  ASSERT_FALSE(r) << "succeeded with code " << u(r.value().code) << " ("
                  << ipsec::to_string(r.value().how) << ")";
  EXPECT_EQ(r.error().code.value(), static_cast<int>(code)) << r.error().message();
  EXPECT_EQ(r.error().code.category(), ir::win32_category());
  EXPECT_EQ(r.error().reason, reason) << r.error().message();
  EXPECT_EQ(r.error().calls, calls) << r.error().message();
}

const wchar_t* const name = L"corp-policy";

std::string kind_label(const ::testing::TestParamInfo<kind_case>& param) {
  return param.param.label;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// simulated_agent: every modelled behaviour, for QM and MM.

class SimulatedAgent : public ::testing::TestWithParam<kind_case> {};
INSTANTIATE_TEST_SUITE_P(Kinds, SimulatedAgent, ::testing::ValuesIn(kinds), kind_label);

TEST_P(SimulatedAgent, WhilePendingDeletionEveryOperationGetsPendingDeletion) {
  const kind_case k = GetParam();
  world w;
  w.agent.begin_deletion(k.kind, name, w.at(100ms));
  for (nanoseconds t : std::initializer_list<nanoseconds>{0ns, 50ms, 100ms - 1ns}) {
    w.time.set(w.at(t));
    for (agent_op op : all_ops) {
      EXPECT_EQ(call(w.agent, op, k.kind, name), k.pending) << label(op) << " at " << t.count();
      EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
    }
  }
  EXPECT_EQ(w.agent.calls(), 12u);
}

TEST_P(SimulatedAgent, OnceDeletionCompletesSetDeleteGetAreNotFoundAndAddSucceeds) {
  const kind_case k = GetParam();
  struct row {
    agent_op op;
    std::uint32_t expected;
    simulated_agent::state after;
  };
  const row rows[] = {
      {agent_op::set, k.not_found, simulated_agent::state::absent},
      {agent_op::remove, k.not_found, simulated_agent::state::absent},
      {agent_op::get, k.not_found, simulated_agent::state::absent},
      {agent_op::add, success, simulated_agent::state::active},
  };
  // Exactly at the completion time the deletion has completed; later too.
  for (nanoseconds t : std::initializer_list<nanoseconds>{100ms, 100ms + 1ns, 10s}) {
    for (const row& r : rows) {
      world w;
      w.agent.begin_deletion(k.kind, name, w.at(100ms));
      w.time.set(w.at(t));
      EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
      EXPECT_EQ(call(w.agent, r.op, k.kind, name), r.expected)
          << label(r.op) << " at " << t.count();
      EXPECT_EQ(w.agent.state_of(k.kind, name), r.after) << label(r.op);
    }
  }
}

TEST_P(SimulatedAgent, DeleteOfAnInUsePolicyIsPendingForTheDeletionTime) {
  const kind_case k = GetParam();
  world w(250ms);
  w.time.set(w.at(1s));
  w.agent.install(k.kind, name, /*in_use_by_sas=*/true);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
  w.time.set(w.at(1250ms - 1ns));
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.pending);
  EXPECT_EQ(call(w.agent, agent_op::set, k.kind, name), k.pending);
  w.time.set(w.at(1250ms));
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.not_found);
}

TEST_P(SimulatedAgent, SetInUseAndSetDeletionTimeShapeTheNextDeletion) {
  const kind_case k = GetParam();
  world w(250ms);
  w.agent.install(k.kind, name, /*in_use_by_sas=*/false);
  w.agent.set_in_use(k.kind, name, true);
  w.agent.set_deletion_time(2s);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  w.time.set(w.at(2s - 1ns));
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
  w.time.set(w.at(2s));
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);

  // In use, then no longer: removed at once.
  w.agent.install(k.kind, name, /*in_use_by_sas=*/true);
  w.agent.set_in_use(k.kind, name, false);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);

  // set_in_use on an absent policy creates nothing.
  w.agent.set_in_use(k.kind, L"never", true);
  EXPECT_EQ(w.agent.state_of(k.kind, L"never"), simulated_agent::state::absent);
  EXPECT_EQ(call(w.agent, agent_op::get, k.kind, L"never"), k.not_found);
}

TEST_P(SimulatedAgent, DeleteOfAPolicyNotInUseRemovesItAtOnce) {
  const kind_case k = GetParam();
  world w;
  w.agent.install(k.kind, name);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.not_found);
  EXPECT_EQ(call(w.agent, agent_op::add, k.kind, name), success);
  // A policy the agent added is not in use by SAs: its deletion is immediate too.
  EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), success);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
}

TEST_P(SimulatedAgent, ActiveAndAbsentPolicies) {
  const kind_case k = GetParam();
  world w;
  struct row {
    agent_op op;
    std::uint32_t on_active;
    std::uint32_t on_absent;
  };
  const row rows[] = {
      {agent_op::add, k.exists, success},
      {agent_op::set, success, k.not_found},
      {agent_op::get, success, k.not_found},
  };
  for (const row& r : rows) {
    w.agent.install(k.kind, name);
    EXPECT_EQ(call(w.agent, r.op, k.kind, name), r.on_active) << label(r.op);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active) << label(r.op);
  }
  for (const row& r : rows) {
    world fresh;
    EXPECT_EQ(call(fresh.agent, r.op, k.kind, L"never"), r.on_absent) << label(r.op);
  }
  // Add twice: the second sees the first.
  EXPECT_EQ(call(w.agent, agent_op::add, k.kind, L"new"), success);
  EXPECT_EQ(call(w.agent, agent_op::add, k.kind, L"new"), k.exists);
}

TEST_P(SimulatedAgent, InstallReplacesAPendingDeletion) {
  const kind_case k = GetParam();
  world w;
  w.agent.begin_deletion(k.kind, name, w.at(1h));
  w.agent.install(k.kind, name);
  EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active);
  EXPECT_EQ(call(w.agent, agent_op::set, k.kind, name), success);
}

TEST_P(SimulatedAgent, NamesAndKindsAreIndependent) {
  const kind_case k = GetParam();
  const policy_kind other =
      k.kind == policy_kind::quick_mode ? policy_kind::main_mode : policy_kind::quick_mode;
  world w;
  w.agent.begin_deletion(k.kind, L"a", w.at(1s));
  w.agent.install(k.kind, L"b");
  EXPECT_EQ(call(w.agent, agent_op::set, k.kind, L"a"), k.pending);
  EXPECT_EQ(call(w.agent, agent_op::set, k.kind, L"b"), success);
  EXPECT_EQ(w.agent.state_of(other, L"a"), simulated_agent::state::absent);
  EXPECT_EQ(call(w.agent, agent_op::add, other, L"a"), success);
  EXPECT_EQ(w.agent.state_of(k.kind, L"a"), simulated_agent::state::pending_deletion);
}

TEST_P(SimulatedAgent, InjectHitsExactlyCallNAndLeavesStateUntouched) {
  const kind_case k = GetParam();
  for (agent_op op : all_ops) {
    SCOPED_TRACE(label(op));
    // Active, in use: without the fault, call 2 would succeed (and a delete would start a
    // pending deletion, an add would get EXISTS).
    world w;
    w.agent.install(k.kind, name, /*in_use_by_sas=*/true);
    w.agent.inject(2, ir::win32_error{rpc_call_failed});
    EXPECT_EQ(call(w.agent, agent_op::get, k.kind, name), success);
    EXPECT_EQ(call(w.agent, op, k.kind, name), rpc_call_failed);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active);
    EXPECT_EQ(call(w.agent, agent_op::get, k.kind, name), success);
    EXPECT_EQ(w.agent.calls(), 3u);
  }
  {
    // An injected success creates nothing; a fault on a pending policy does not settle it.
    world w;
    w.agent.inject(1, ir::win32_error::success);
    EXPECT_EQ(call(w.agent, agent_op::add, k.kind, name), success);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::absent);
    EXPECT_EQ(call(w.agent, agent_op::add, k.kind, name), success);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::active);
  }
  {
    world w;
    w.agent.begin_deletion(k.kind, name, w.at(1s));
    w.agent.inject(1, ir::win32_error{access_denied});
    w.agent.inject(3, ir::win32_error{access_denied});
    EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), access_denied);
    EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.pending);
    EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), access_denied);
    EXPECT_EQ(call(w.agent, agent_op::remove, k.kind, name), k.pending);
    EXPECT_EQ(w.agent.state_of(k.kind, name), simulated_agent::state::pending_deletion);
  }
}

TEST(SimulatedAgent, ALaterInjectForTheSameCallWins) {
  world w;
  w.agent.install(policy_kind::quick_mode, name);
  w.agent.inject(1, ir::win32_error{access_denied});
  w.agent.inject(1, ir::win32_error{rpc_call_failed});
  EXPECT_EQ(call(w.agent, agent_op::set, policy_kind::quick_mode, name), rpc_call_failed);
  EXPECT_EQ(call(w.agent, agent_op::set, policy_kind::quick_mode, name), success);
}

namespace {
// A clock that counts its readings (docs/simulator.md: read once per non-injected call).
struct counting_clock {
  const ir::virtual_time* time;
  std::atomic<int>* reads;
  ir::time_point now() {
    reads->fetch_add(1);
    return time->now();
  }
};
}  // namespace

TEST(SimulatedAgent, ReadsTheClockOncePerCallAndNotForInjectedOnes) {
  ir::virtual_time time;
  std::atomic<int> reads{0};
  simulated_agent agent(counting_clock{&time, &reads});
  agent.install(policy_kind::quick_mode, name);
  agent.inject(2, ir::win32_error{access_denied});
  EXPECT_EQ(u(agent.set_policy(policy_kind::quick_mode, name, {})), success);
  EXPECT_EQ(u(agent.set_policy(policy_kind::quick_mode, name, {})), access_denied);
  EXPECT_EQ(u(agent.get_policy(policy_kind::quick_mode, name)), success);
  EXPECT_EQ(reads.load(), 2);
}

// Regression: now + deletion_time overflowed for a huge deletion_time, so a deletion meant to
// last "forever" completed at once.
TEST(SimulatedAgent, HugeDeletionTimeSaturatesInsteadOfOverflowing) {
  world w(nanoseconds::max());
  w.time.set(w.at(1s));
  w.agent.install(policy_kind::quick_mode, name, /*in_use_by_sas=*/true);
  EXPECT_EQ(call(w.agent, agent_op::remove, policy_kind::quick_mode, name), success);
  w.time.advance(24h * 365);
  EXPECT_EQ(w.agent.state_of(policy_kind::quick_mode, name),
            simulated_agent::state::pending_deletion);
  EXPECT_EQ(call(w.agent, agent_op::add, policy_kind::quick_mode, name), qm_pending);
}

TEST(SimulatedAgent, CallsCountsAgentCallsOnlyAcrossKindsAndAuthMethods) {
  world w;
  const ipsec::guid id{1, 2, 3, {4, 5, 6, 7, 8, 9, 10, 11}};
  // Setup and inspection: not agent calls.
  w.agent.install(policy_kind::quick_mode, L"q", true);
  w.agent.install(policy_kind::main_mode, L"m");
  w.agent.begin_deletion(policy_kind::quick_mode, L"p", w.at(1s));
  w.agent.set_in_use(policy_kind::main_mode, L"m", true);
  w.agent.set_deletion_time(1s);
  w.agent.install_mm_auth_methods(id);
  w.agent.inject(100, ir::win32_error{access_denied});
  (void)w.agent.state_of(policy_kind::quick_mode, L"q");
  EXPECT_EQ(w.agent.calls(), 0u);

  (void)w.agent.add_policy(policy_kind::quick_mode, L"x", {});
  (void)w.agent.set_policy(policy_kind::main_mode, L"m", {});
  (void)w.agent.delete_policy(policy_kind::quick_mode, L"p");
  (void)w.agent.get_policy(policy_kind::main_mode, L"nope");
  (void)w.agent.delete_mm_auth_methods(id);
  EXPECT_EQ(w.agent.calls(), 5u);
}

TEST(SimulatedAgent, MmAuthMethodsByGuid) {
  world w(300ms);
  const ipsec::guid unused{0xA1, 0xB2, 0xC3, {1, 2, 3, 4, 5, 6, 7, 8}};
  const ipsec::guid used{0xA1, 0xB2, 0xC3, {1, 2, 3, 4, 5, 6, 7, 9}};  // differs in the last byte
  const ipsec::guid never{0xA1, 0xB2, 0xC4, {1, 2, 3, 4, 5, 6, 7, 8}};
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(never)), mm_auth_not_found);

  w.agent.install_mm_auth_methods(unused);
  w.agent.install_mm_auth_methods(used, /*in_use_by_sas=*/true);
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(unused)), success);  // removed at once
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(unused)), mm_auth_not_found);

  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(used)), success);  // pending for 300 ms
  w.time.set(w.at(300ms - 1ns));
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(used)), mm_auth_pending);
  w.time.set(w.at(300ms));
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(used)), mm_auth_not_found);

  // Auth methods are not MM policies, even under a name-like key.
  EXPECT_EQ(w.agent.state_of(policy_kind::main_mode, L"000000a100b200c30102030405060708"),
            simulated_agent::state::absent);
  // Faults apply to auth calls too, and leave them in place.
  w.agent.install_mm_auth_methods(unused);
  w.agent.inject(w.agent.calls() + 1, ir::win32_error{rpc_call_failed});
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(unused)), rpc_call_failed);
  EXPECT_EQ(u(w.agent.delete_mm_auth_methods(unused)), success);
}

TEST(SimulatedAgent, WorksThroughThePolicyAgentInterface) {
  world w;
  ipsec::policy_agent& agent = w.agent;
  w.agent.begin_deletion(policy_kind::quick_mode, name, w.at(10ms));
  EXPECT_EQ(u(agent.add_policy(policy_kind::quick_mode, name, {})), qm_pending);
  w.time.advance(10ms);
  EXPECT_EQ(u(agent.add_policy(policy_kind::quick_mode, name, {})), success);
  EXPECT_EQ(u(agent.get_policy(policy_kind::quick_mode, name)), success);
}

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
  EXPECT_EQ(timed.starts, ms({0, 10, 30, 70, 150}));
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
  const ipsec::add_rules opt_in{.exists_after_ambiguous_is_done = true};
  {
    world w;  // the first call did not create it: the retry does
    w.agent.inject(1, ir::win32_error{rpc_call_failed});
    timed_agent timed{w.agent, w.time};
    const auto r = typed(policy_operation::add, k.kind, timed, name,
                         policy("initial=10ms, jitter=none"), w.options(), opt_in);
    expect_success(r, success, completion::done, 2);
    EXPECT_EQ(timed.starts, ms({0, 10}));
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
  const ipsec::add_rules opt_in{.exists_after_ambiguous_is_done = true};
  for (const ipsec::add_rules rules : {ipsec::add_rules{}, opt_in}) {
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

TEST(TypedOperations, SiteNames) {
  EXPECT_EQ(ipsec::site_name(policy_kind::quick_mode, policy_operation::add), "qm.add");
  EXPECT_EQ(ipsec::site_name(policy_kind::quick_mode, policy_operation::set), "qm.set");
  EXPECT_EQ(ipsec::site_name(policy_kind::quick_mode, policy_operation::remove), "qm.delete");
  EXPECT_EQ(ipsec::site_name(policy_kind::main_mode, policy_operation::add), "mm.add");
  EXPECT_EQ(ipsec::site_name(policy_kind::main_mode, policy_operation::set), "mm.set");
  EXPECT_EQ(ipsec::site_name(policy_kind::main_mode, policy_operation::remove), "mm.delete");
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
  EXPECT_EQ(timed.starts, ms({0, 10, 30, 70, 150, 310, 630, 1270}));
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
    EXPECT_EQ(timed.starts, ms({0, 10, 30, 70, 150, 310, 630, 1270, 2270, 3270, 4270, 5000}));
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
// call_site_registry.

namespace {

ir::retry_policy builtin(policy_operation op) {
  return ipsec::builtin_policy(op);
}

ir::retry_policy over(const ir::retry_policy& base, std::string_view text) {
  auto p = ir::retry_policy::parse(text, base);
  EXPECT_TRUE(p) << text;
  return p ? p.value() : base;
}

ir::retry_policy site_policy(const ipsec::call_site_registry& sites, std::string_view site) {
  auto p = sites.policy(site);
  EXPECT_TRUE(p) << site << ": " << (p ? "" : p.error().message());
  return p ? p.value() : ir::retry_policy{};
}

}  // namespace

TEST(CallSites, BuiltInSitesStartAtTheirDefaults) {
  const ipsec::call_site_registry sites;
  EXPECT_EQ(sites.sites(), (std::vector<std::string>{"mm.add", "mm.delete", "mm.set", "qm.add",
                                                     "qm.delete", "qm.set"}));
  for (auto kind : {policy_kind::quick_mode, policy_kind::main_mode}) {
    for (auto op : {policy_operation::add, policy_operation::set, policy_operation::remove}) {
      const auto site = ipsec::site_name(kind, op);
      EXPECT_EQ(site_policy(sites, site), builtin(op)) << site;
    }
  }
}

TEST(CallSites, DefineAddsAHostSite) {
  ipsec::call_site_registry sites;
  const auto p = policy("attempts=3, initial=5ms");
  ASSERT_TRUE(sites.define("wfp.add_filter", p));
  ASSERT_TRUE(sites.define("A-9_z", p));
  EXPECT_EQ(site_policy(sites, "wfp.add_filter"), p);
  EXPECT_EQ(sites.sites(),
            (std::vector<std::string>{"A-9_z", "mm.add", "mm.delete", "mm.set", "qm.add",
                                      "qm.delete", "qm.set", "wfp.add_filter"}));
  // The new site takes config lines like a built-in one.
  ASSERT_TRUE(sites.load_config("wfp.add_filter: attempts=7"));
  EXPECT_EQ(site_policy(sites, "wfp.add_filter"), over(p, "attempts=7"));
}

TEST(CallSites, DefineRefusesDuplicatesAndBadNames) {
  ipsec::call_site_registry sites;
  const auto p = policy("attempts=3");
  ASSERT_TRUE(sites.define("wfp.add_filter", p));
  for (std::string_view duplicate : {"wfp.add_filter", "qm.delete"}) {
    const auto r = sites.define(duplicate, policy("attempts=9"));
    ASSERT_FALSE(r) << duplicate;
    EXPECT_EQ(r.error().code, ipsec::registry_errc::duplicate_site);
    EXPECT_EQ(r.error().site, duplicate);
    EXPECT_NE(r.error().message().find(duplicate), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(site_policy(sites, "wfp.add_filter"), p) << "a refused define changes nothing";
  EXPECT_EQ(site_policy(sites, "qm.delete"), builtin(policy_operation::remove));
  for (std::string_view bad : {"", "has space", "qm:delete", "tab\t", "é", "a#b"}) {
    const auto r = sites.define(bad, p);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ipsec::registry_errc::bad_site_name) << bad;
  }
  EXPECT_EQ(sites.sites().size(), 7u);
}

TEST(CallSites, PolicyOfAnUnknownSiteSuggestsTheNearest) {
  const ipsec::call_site_registry sites;
  const auto nope = sites.policy("nope");
  ASSERT_FALSE(nope);
  EXPECT_EQ(nope.error().code, ipsec::registry_errc::unknown_site);
  EXPECT_EQ(std::error_code(nope.error().code), ipsec::registry_errc::unknown_site);
  EXPECT_NE(nope.error().message().find("unknown call site 'nope'"), std::string::npos)
      << nope.error().message();
  const auto typo = sites.policy("qm.delet");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message().find("did you mean 'qm.delete'?"), std::string::npos)
      << typo.error().message();
  EXPECT_STREQ(ipsec::registry_category().name(), "ipsec_retry.call_sites");
}

TEST(CallSites, ConfigKeysNotGivenKeepTheSiteDefault) {
  ipsec::call_site_registry sites;
  const auto loaded = sites.load_config(
      "# ipsec_retry.conf\r\n"
      "\r\n"
      "qm.delete: attempts=50   # the default timeout=60s stays\r\n"
      "   \t\r\n"
      "  qm.add :initial=10ms, jitter=none\r\n"
      "# mm.set: attempts=1\n");
  ASSERT_TRUE(loaded) << loaded.error().message();
  const auto qm_delete = site_policy(sites, "qm.delete");
  EXPECT_EQ(qm_delete.settings().attempts, 50u);
  EXPECT_EQ(qm_delete.settings().timeout, std::chrono::nanoseconds{60s});
  EXPECT_EQ(qm_delete.delays().initial, std::chrono::nanoseconds{50ms});
  EXPECT_EQ(qm_delete, over(builtin(policy_operation::remove), "attempts=50"));
  EXPECT_EQ(site_policy(sites, "qm.add"),
            over(builtin(policy_operation::add), "initial=10ms, jitter=none"));
  EXPECT_EQ(site_policy(sites, "mm.set"), builtin(policy_operation::set)) << "commented out";
  EXPECT_EQ(site_policy(sites, "mm.delete"), builtin(policy_operation::remove));
}

TEST(CallSites, ALineOverridesTheDefaultNotThePreviousLoad) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_config("qm.delete: attempts=50"));
  ASSERT_TRUE(sites.load_config("qm.delete: timeout=90s"));
  EXPECT_EQ(site_policy(sites, "qm.delete"),
            over(builtin(policy_operation::remove), "timeout=90s"));
}

TEST(CallSites, EmptyAndCommentOnlyConfigsChangeNothing) {
  for (std::string_view text : {"", "\n", "# nothing\n\n", "\r\n  # x\r\n"}) {
    ipsec::call_site_registry sites;
    const auto r = sites.load_config(text);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    EXPECT_EQ(site_policy(sites, "qm.delete"), builtin(policy_operation::remove));
  }
}

TEST(CallSites, RetryOnGivenReplacesTheDefaultsCodes) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.define("wfp.add_filter", policy("retry_on=5")));
  ASSERT_TRUE(sites.define("wfp.delete_filter", policy("retry_on=5")));
  ASSERT_TRUE(sites.load_config("wfp.add_filter: retry_on=87\nwfp.delete_filter: attempts=3\n"));
  const auto replaced = site_policy(sites, "wfp.add_filter").classify();
  EXPECT_TRUE(replaced.retry_on_codes().contains(87));
  EXPECT_FALSE(replaced.retry_on_codes().contains(5));
  EXPECT_EQ(replaced(ir::win32_error{access_denied}), ir::verdict::permanent);
  EXPECT_EQ(replaced(ir::win32_error{87}), ir::verdict::transient);
  const auto kept = site_policy(sites, "wfp.delete_filter").classify();
  EXPECT_TRUE(kept.retry_on_codes().contains(5));
  EXPECT_EQ(kept(ir::win32_error{access_denied}), ir::verdict::transient);
}

struct config_error_case {
  const char* text;
  ipsec::registry_errc code;
  const char* site;
  const char* message_start;  // the message starts with this
  const char* says;           // ... and contains this
};

class CallSitesConfigError : public ::testing::TestWithParam<config_error_case> {};

TEST_P(CallSitesConfigError, NamesTheLineAndTheSiteAndChangesNothing) {
  const auto& c = GetParam();
  ipsec::call_site_registry sites;
  const auto r = sites.load_config(c.text);
  ASSERT_FALSE(r) << c.text;
  EXPECT_EQ(r.error().code, c.code);
  EXPECT_EQ(r.error().site, c.site);
  EXPECT_EQ(r.error().message().rfind(c.message_start, 0), 0u) << r.error().message();
  EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
  // All or nothing: the good lines before the error were not applied.
  for (const auto& site : sites.sites()) {
    const auto op = site.ends_with(".delete") ? policy_operation::remove
                    : site.ends_with(".set")  ? policy_operation::set
                                              : policy_operation::add;
    EXPECT_EQ(site_policy(sites, site), builtin(op)) << site;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CallSitesConfigError,
    ::testing::Values(
        config_error_case{"qm.add: attempts=3\n# comment\nqm.delete: timeout=5\n",
                          ipsec::registry_errc::bad_policy, "qm.delete",
                          "line 3 (qm.delete): column ", "bad value '5' for 'timeout'"},
        config_error_case{"qm.add: attempts=3\r\n\r\nqm.delete: atempts=3\r\n",
                          ipsec::registry_errc::bad_policy, "qm.delete",
                          "line 3 (qm.delete): column ", "did you mean 'attempts'?"},
        config_error_case{"qm.set: attempts=3\nqm.delet: attempts=3\n",
                          ipsec::registry_errc::unknown_site, "qm.delet",
                          "line 2 (qm.delet): column 1: ", "did you mean 'qm.delete'?"},
        config_error_case{"qm.set: attempts=3\nmm.add: attempts=2\nqm.set: attempts=4\n",
                          ipsec::registry_errc::duplicate_site, "qm.set",
                          "line 3 (qm.set): column 1: ", "already appeared on line 1"},
        config_error_case{"qm.set: attempts=3\nqm.delete attempts=3\n",
                          ipsec::registry_errc::syntax, "",
                          "line 2: column 21: ", "expected ':' after the site name"},
        config_error_case{"qm.set: attempts=3\n: attempts=3\n", ipsec::registry_errc::bad_site_name,
                          "", "line 2", "a site name is"},
        config_error_case{"qm.set: attempts=3\nqm delete: attempts=3\n",
                          ipsec::registry_errc::bad_site_name, "qm delete",
                          "line 2 (qm delete): ", "a site name is"},
        config_error_case{"mm.add: attempts=3\nqm.delete: attempts=unlimited, timeout=none",
                          ipsec::registry_errc::bad_policy, "qm.delete",
                          "line 2 (qm.delete): ", "unbounded"}));

TEST(CallSites, ConfigErrorColumnCountsInTheLine) {
  struct row {
    const char* text;
    const char* message_start;
  };
  const row rows[] = {
      {"qm.add: attempts=3\n\nqm.delete: timeout=5\n",
       "line 3 (qm.delete): column 20: bad value '5' for 'timeout'"},
      {"qm.delete:timeout=5", "line 1 (qm.delete): column 19: bad value '5' for 'timeout'"},
      {"\t qm.delete :  timeout=5 # comment\r\n",
       "line 1 (qm.delete): column 24: bad value '5' for 'timeout'"},
      {"qm.delete: attempts=3, atempts=4",
       "line 1 (qm.delete): column 24: unknown key 'atempts' (did you mean 'attempts'?)"},
  };
  for (const row& r : rows) {
    ipsec::call_site_registry sites;
    const auto loaded = sites.load_config(r.text);
    ASSERT_FALSE(loaded) << r.text;
    EXPECT_EQ(loaded.error().message().rfind(r.message_start, 0), 0u) << loaded.error().message();
    EXPECT_EQ(loaded.error().site, "qm.delete");
    EXPECT_EQ(std::error_code(ipsec::make_error_code(loaded.error())),
              ipsec::registry_errc::bad_policy);
  }
}

TEST(CallSites, ValueOnAFailedLoadThrowsWithTheMessage) {
  ipsec::call_site_registry sites;
  try {
    sites.load_config("qm.nope: attempts=1").value();
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), ipsec::registry_errc::unknown_site);
    EXPECT_NE(std::string(e.what()).find("line 1 (qm.nope)"), std::string::npos) << e.what();
  }
}

namespace {

const char* lookup(const std::pair<const char*, const char*>* begin,
                   const std::pair<const char*, const char*>* end, const char* variable) {
  for (auto* it = begin; it != end; ++it) {
    if (std::strcmp(it->first, variable) == 0) return it->second;
  }
  return nullptr;
}

const char* good_env(const char* variable) {
  static const std::pair<const char*, const char*> table[] = {
      {"IPSEC_RETRY_QM_DELETE", "timeout=90s"},
      {"IPSEC_RETRY_MM_ADD", "attempts=4, jitter=none"},
      {"IPSEC_RETRY_WFP_ADD_FILTER", "initial=1ms"},
      {"qm.set", "attempts=1"},  // not a variable name: never asked for
  };
  return lookup(std::begin(table), std::end(table), variable);
}

const char* bad_env(const char* variable) {
  static const std::pair<const char*, const char*> table[] = {
      {"IPSEC_RETRY_MM_ADD", "attempts=4"},  // sorted before qm.set: must not stick
      {"IPSEC_RETRY_QM_SET", "timeout=5"},
  };
  return lookup(std::begin(table), std::end(table), variable);
}

const char* no_env(const char*) {
  return nullptr;
}

}  // namespace

TEST(CallSites, EnvironmentVariableNames) {
  using reg = ipsec::call_site_registry;
  EXPECT_EQ(reg::environment_variable("qm.delete"), "IPSEC_RETRY_QM_DELETE");
  EXPECT_EQ(reg::environment_variable("mm.add"), "IPSEC_RETRY_MM_ADD");
  EXPECT_EQ(reg::environment_variable("wfp.add-filter"), "IPSEC_RETRY_WFP_ADD_FILTER");
  EXPECT_EQ(reg::environment_variable("Site_2.x"), "IPSEC_RETRY_SITE_2_X");
}

TEST(CallSites, LoadEnvironmentAppliesOnTopOfTheCurrentPolicies) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.define("wfp.add-filter", policy("attempts=3, initial=5ms")));
  ASSERT_TRUE(sites.load_config("qm.delete: attempts=50"));
  const auto r = sites.load_environment(&good_env);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(site_policy(sites, "qm.delete"),
            over(builtin(policy_operation::remove), "attempts=50, timeout=90s"));
  EXPECT_EQ(site_policy(sites, "mm.add"),
            over(builtin(policy_operation::add), "attempts=4, jitter=none"));
  EXPECT_EQ(site_policy(sites, "wfp.add-filter"), policy("attempts=3, initial=1ms"));
  EXPECT_EQ(site_policy(sites, "qm.set"), builtin(policy_operation::set));

  ipsec::call_site_registry untouched;
  ASSERT_TRUE(untouched.load_environment(&no_env));
  EXPECT_EQ(site_policy(untouched, "qm.delete"), builtin(policy_operation::remove));
}

TEST(CallSites, LoadEnvironmentErrorNamesTheVariableAndChangesNothing) {
  ipsec::call_site_registry sites;
  const auto r = sites.load_environment(&bad_env);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ipsec::registry_errc::bad_policy);
  EXPECT_EQ(r.error().source, "IPSEC_RETRY_QM_SET");
  EXPECT_EQ(r.error().site, "qm.set");
  EXPECT_EQ(r.error().message().rfind("IPSEC_RETRY_QM_SET (qm.set): column ", 0), 0u)
      << r.error().message();
  EXPECT_EQ(site_policy(sites, "mm.add"), builtin(policy_operation::add));
  EXPECT_EQ(site_policy(sites, "qm.set"), builtin(policy_operation::set));
}

// ---------------------------------------------------------------------------------------------
// Threads (also run under TSan).

TEST(SimulatedAgentThreads, ConcurrentCallsKeepCountsAndCodesLegal) {
  constexpr int threads = 8;
  constexpr int calls_per_thread = 1500;
  constexpr std::uint32_t injected = 1818;  // RPC_S_CALL_CANCELLED, never a modelled code
  ir::virtual_time time;
  simulated_agent agent(time.clock(), 3ms);
  const std::wstring names[] = {L"a", L"b", L"c"};
  std::uint64_t injections = 0;
  for (std::uint64_t n = 7; n <= std::uint64_t{threads} * calls_per_thread; n += 97) {
    agent.inject(n, ir::win32_error{injected});
    ++injections;
  }

  std::atomic<bool> done{false};
  std::atomic<int> illegal{0};
  std::atomic<std::uint64_t> made{0};
  std::atomic<std::uint64_t> injected_seen{0};
  std::thread ticker([&] {
    while (!done.load(std::memory_order_acquire)) {
      time.advance(1ms);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint32_t rng = 0x9E3779B9u * static_cast<std::uint32_t>(t + 1);
      for (int i = 0; i < calls_per_thread; ++i) {
        rng = rng * 1664525u + 1013904223u;
        const kind_case& k = kinds[(rng >> 8) & 1u];
        const std::wstring& n = names[(rng >> 9) % 3u];
        const auto op = all_ops[(rng >> 12) % 4u];
        if (((rng >> 16) & 7u) == 0) agent.set_in_use(k.kind, n, true);  // setup: not counted
        const std::uint32_t code = call(agent, op, k.kind, n);
        made.fetch_add(1, std::memory_order_relaxed);
        if (code == injected) {
          injected_seen.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        const bool legal = code == success || code == k.pending ||
                           (op == agent_op::add ? code == k.exists : code == k.not_found);
        if (!legal) illegal.fetch_add(1, std::memory_order_relaxed);
        (void)agent.state_of(k.kind, n);
      }
    });
  }
  for (auto& w : workers) w.join();
  done.store(true, std::memory_order_release);
  ticker.join();

  EXPECT_EQ(made.load(), std::uint64_t{threads} * calls_per_thread);
  EXPECT_EQ(agent.calls(), made.load());
  EXPECT_EQ(illegal.load(), 0);
  EXPECT_EQ(injected_seen.load(), injections) << "each injected call number hit exactly once";
}

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

TEST(CallSitesThreads, ReadersSeeOneWholeVersionWhileAWriterReloads) {
  constexpr std::string_view text_a =
      "qm.delete: attempts=5, timeout=10s\nmm.add: initial=5ms, jitter=none\n";
  constexpr std::string_view text_b =
      "qm.delete: attempts=7, timeout=20s, jitter=full, retry_on=5\n"
      "mm.add: initial=50ms, max_delay=500ms, seed=3\n";
  const auto delete_a = over(builtin(policy_operation::remove), "attempts=5, timeout=10s");
  const auto delete_b =
      over(builtin(policy_operation::remove), "attempts=7, timeout=20s, jitter=full, retry_on=5");
  const auto add_a = over(builtin(policy_operation::add), "initial=5ms, jitter=none");
  const auto add_b = over(builtin(policy_operation::add), "initial=50ms, max_delay=500ms, seed=3");
  ASSERT_NE(delete_a, delete_b);
  ASSERT_NE(add_a, add_b);

  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_config(text_a));
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> load_failures{0};
  std::atomic<std::uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 400 || !done.load(std::memory_order_acquire); ++i) {
        const auto d = sites.policy("qm.delete");
        const auto a = sites.policy("mm.add");
        if (!d || !a || (d.value() != delete_a && d.value() != delete_b) ||
            (a.value() != add_a && a.value() != add_b)) {
          torn.fetch_add(1);
        }
        reads.fetch_add(2, std::memory_order_relaxed);
        if (i > 2000) break;  // bounded
      }
    });
  }
  std::thread writer([&] {
    for (int i = 0; i < 100; ++i) {
      if (!sites.load_config(i % 2 == 0 ? text_b : text_a)) load_failures.fetch_add(1);
    }
    done.store(true, std::memory_order_release);
  });
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(load_failures.load(), 0);
  EXPECT_GE(reads.load(), 8u * 400u * 2u);
  EXPECT_EQ(site_policy(sites, "qm.delete"), delete_a);  // 100 loads: the last is text_a
}

TEST(CallSiteRegistry, SitesWhoseEnvironmentVariablesCollideAreRefused) {
  ipsec::call_site_registry sites;
  const auto clash = sites.define("qm_delete", ir::retry_policy{});
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, ipsec::registry_errc::duplicate_site);
  EXPECT_NE(clash.error().message().find("IPSEC_RETRY_QM_DELETE"), std::string::npos)
      << clash.error().message();
  EXPECT_TRUE(sites.define("wfp.add_filter", ir::retry_policy{}));
  EXPECT_FALSE(sites.define("WFP-ADD_FILTER", ir::retry_policy{}));
}

TEST(CallSiteRegistry, ConfigMayStartWithAUtf8ByteOrderMark) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_config("\xEF\xBB\xBFqm.delete: attempts=7\r\n"));
  EXPECT_EQ(sites.policy("qm.delete").value().settings().attempts, 7u);
}
