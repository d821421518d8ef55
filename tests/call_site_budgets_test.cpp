// SPDX-License-Identifier: BSL-1.0
// Named retry budgets in the call-site registry (issue 7): defined in code or in the
// configuration, attached to sites by name, shared, reconfigured in place.
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;
using ipsec::policy_kind;
using ipsec::policy_operation;
using ipsec::registry_errc;
using budget_settings = ir::retry_budget::settings;

namespace {

constexpr std::uint32_t server_too_busy = 1723;

ir::retry_policy policy(std::string_view text) {
  auto p = ir::retry_policy::parse(text);
  EXPECT_TRUE(p) << text << ": " << (p ? "" : p.error().message());
  return p ? p.value() : ir::retry_policy{};
}

ir::retry_policy over(const ir::retry_policy& base, std::string_view text) {
  auto p = ir::retry_policy::parse(text, base);
  EXPECT_TRUE(p) << text;
  return p ? p.value() : ir::retry_policy{};
}

ipsec::call_site site(const ipsec::call_site_registry& sites, std::string_view name) {
  auto s = sites.site(name);
  EXPECT_TRUE(s) << name;
  return s ? s.value() : ipsec::call_site{};
}

ir::retry_budget* budget(const ipsec::call_site_registry& sites, std::string_view name) {
  auto b = sites.budget(name);
  EXPECT_TRUE(b) << name << ": " << (b ? "" : b.error().message());
  return b ? b.value() : nullptr;
}

// Retries an operation against an overloaded agent (RPC_S_SERVER_TOO_BUSY on every call: a
// code the budget charges), in virtual time, through the site's policy and guard.
auto retry_busy(const ipsec::call_site& s, ir::virtual_time& vt) {
  return ir::retry(
      s.policy, [] { return server_too_busy; },
      ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper(), .guard = s.guard()});
}

}  // namespace

TEST(CallSiteBudgets, ABudgetDefinedInCodeIsSharedByTheSitesAttachedToIt) {
  ipsec::call_site_registry sites;
  EXPECT_TRUE(sites.budgets().empty());
  ASSERT_TRUE(sites.define_budget("agent", {.max_tokens = 4, .token_ratio = 0.5}));
  ASSERT_TRUE(sites.attach_budget("qm.delete", "agent"));
  ASSERT_TRUE(sites.attach_budget("qm.add", "agent"));
  EXPECT_EQ(sites.budgets(), std::vector<std::string>{"agent"});

  ir::retry_budget* agent = budget(sites, "agent");
  ASSERT_NE(agent, nullptr);
  EXPECT_EQ(agent->current_settings(), (budget_settings{.max_tokens = 4, .token_ratio = 0.5}));
  EXPECT_EQ(site(sites, "qm.delete").budget, agent);
  EXPECT_EQ(site(sites, "qm.add").budget, agent);
  EXPECT_EQ(site(sites, "qm.set").budget, nullptr);
  EXPECT_EQ(site(sites, "qm.delete").policy, ipsec::builtin_policy(policy_operation::remove));

  // qm.delete spends the shared budget: retries only while tokens > 2, so 2 calls (4 -> 2).
  ir::virtual_time vt;
  const auto spent = retry_busy(site(sites, "qm.delete"), vt);
  ASSERT_FALSE(spent);
  EXPECT_EQ(spent.error().reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(spent.error().calls, 2u);
  EXPECT_DOUBLE_EQ(agent->tokens(), 2.0);
  // qm.add shares it: its first call goes ahead, its retry is refused.
  const auto refused = retry_busy(site(sites, "qm.add"), vt);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(refused.error().calls, 1u);
  EXPECT_DOUBLE_EQ(agent->tokens(), 1.0);
  // qm.set has no budget: its guard refuses nothing, so its own policy stops it.
  auto unguarded = site(sites, "qm.set");
  unguarded.policy = over(unguarded.policy, "attempts=6");
  const auto own_limit = retry_busy(unguarded, vt);
  ASSERT_FALSE(own_limit);
  EXPECT_EQ(own_limit.error().reason, ir::stop_reason::attempts_exhausted);
  EXPECT_EQ(own_limit.error().calls, 6u);
  EXPECT_DOUBLE_EQ(agent->tokens(), 1.0) << "a site without a budget does not spend one";
}

TEST(CallSiteBudgets, TheConfigurationDefinesBudgetsAndAttachesThemByName) {
  ipsec::call_site_registry sites;
  const auto loaded = sites.load_config(
      "qm.delete: timeout=60s, budget=agent   # the budget may be defined further down\n"
      "budget agent: max_tokens=4, token_ratio=0.5\n"
      "qm.add: budget = agent ; initial=5ms\n"
      "  budget  slow.path : token_ratio=1\n"
      "mm.delete: budget=slow.path\n");
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(sites.budgets(), (std::vector<std::string>{"agent", "slow.path"}));
  ir::retry_budget* agent = budget(sites, "agent");
  ir::retry_budget* slow = budget(sites, "slow.path");
  ASSERT_NE(agent, nullptr);
  ASSERT_NE(slow, nullptr);
  EXPECT_NE(agent, slow);
  EXPECT_EQ(agent->current_settings(), (budget_settings{.max_tokens = 4, .token_ratio = 0.5}));
  EXPECT_EQ(slow->current_settings(), (budget_settings{.max_tokens = 10, .token_ratio = 1}))
      << "keys not given take the library's defaults";
  EXPECT_DOUBLE_EQ(slow->tokens(), 10.0) << "a new budget starts full";

  EXPECT_EQ(site(sites, "qm.delete").budget, agent);
  EXPECT_EQ(site(sites, "qm.add").budget, agent);
  EXPECT_EQ(site(sites, "mm.delete").budget, slow);
  EXPECT_EQ(site(sites, "mm.add").budget, nullptr);
  // The budget item is not part of the policy.
  EXPECT_EQ(site(sites, "qm.delete").policy,
            over(ipsec::builtin_policy(policy_operation::remove), "timeout=60s"));
  EXPECT_EQ(site(sites, "qm.add").policy,
            over(ipsec::builtin_policy(policy_operation::add), "initial=5ms"));
  EXPECT_EQ(sites.policy("qm.add").value(), site(sites, "qm.add").policy);
}

TEST(CallSiteBudgets, ALineWithoutBudgetKeepsTheSitesDefaultAttachment) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.define_budget("a", {}));
  ASSERT_TRUE(sites.define_budget("b", {}));
  ASSERT_TRUE(sites.attach_budget("qm.delete", "a"));
  ir::retry_budget* a = budget(sites, "a");
  ir::retry_budget* b = budget(sites, "b");

  ASSERT_TRUE(sites.load_config("qm.delete: timeout=5s"));
  EXPECT_EQ(site(sites, "qm.delete").budget, a);
  ASSERT_TRUE(sites.load_config("qm.delete: budget=b"));
  EXPECT_EQ(site(sites, "qm.delete").budget, b);
  EXPECT_EQ(site(sites, "qm.delete").policy, ipsec::builtin_policy(policy_operation::remove))
      << "a line overrides the default, not the previous load";
  ASSERT_TRUE(sites.load_config("qm.delete: budget=none, attempts=3"));
  EXPECT_EQ(site(sites, "qm.delete").budget, nullptr);
  ASSERT_TRUE(sites.load_config("qm.set: attempts=2"));
  EXPECT_EQ(site(sites, "qm.delete").budget, nullptr) << "sites not named keep their state";
  ASSERT_TRUE(sites.load_config("qm.delete: attempts=3"));
  EXPECT_EQ(site(sites, "qm.delete").budget, a) << "back to the default attachment";

  // attach_budget changes the default; "none" and "" detach.
  ASSERT_TRUE(sites.attach_budget("qm.delete", "none"));
  EXPECT_EQ(site(sites, "qm.delete").budget, nullptr);
  ASSERT_TRUE(sites.attach_budget("qm.delete", "b"));
  ASSERT_TRUE(sites.load_config("qm.delete: attempts=4"));
  EXPECT_EQ(site(sites, "qm.delete").budget, b);
  ASSERT_TRUE(sites.attach_budget("qm.delete", ""));
  EXPECT_EQ(site(sites, "qm.delete").budget, nullptr);
}

TEST(CallSiteBudgets, AReloadReconfiguresTheSameBudgetAndKeepsHowFullItIs) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.define_budget("agent", {.max_tokens = 10, .token_ratio = 0.2}));
  ir::retry_budget* agent = budget(sites, "agent");
  for (int i = 0; i < 4; ++i) agent->on_failure();  // 6 of 10

  ASSERT_TRUE(sites.load_config("budget agent: max_tokens=20"));
  EXPECT_EQ(budget(sites, "agent"), agent) << "pointers handed out stay valid";
  EXPECT_EQ(agent->current_settings(), (budget_settings{.max_tokens = 20, .token_ratio = 0.2}))
      << "token_ratio keeps the value define_budget gave";
  EXPECT_DOUBLE_EQ(agent->tokens(), 12.0);

  ASSERT_TRUE(sites.load_config("budget agent: max_tokens=20"));
  EXPECT_DOUBLE_EQ(agent->tokens(), 12.0) << "the same settings again change nothing";
  ASSERT_TRUE(sites.load_config("qm.add: attempts=2"));
  EXPECT_EQ(agent->current_settings().max_tokens, 20.0) << "budgets not named keep their state";

  ASSERT_TRUE(sites.load_config("budget agent: token_ratio=0.5"));
  EXPECT_EQ(agent->current_settings(), (budget_settings{.max_tokens = 10, .token_ratio = 0.5}))
      << "a line overrides the budget's default, not the previous load";
  EXPECT_DOUBLE_EQ(agent->tokens(), 6.0);
}

TEST(CallSiteBudgets, ALoadAppliesItsSettingsEvenIfTheBudgetWasReconfiguredDirectly) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.define_budget("agent", {.max_tokens = 10, .token_ratio = 0.1}));
  ir::retry_budget* agent = budget(sites, "agent");
  agent->reconfigure({.max_tokens = 50, .token_ratio = 1});
  ASSERT_TRUE(sites.load_config("qm.add: attempts=2"));
  EXPECT_EQ(agent->current_settings().max_tokens, 50.0) << "a load that does not name it";
  ASSERT_TRUE(sites.load_config("budget agent: max_tokens=10, token_ratio=0.1"));
  EXPECT_EQ(agent->current_settings(), (budget_settings{.max_tokens = 10, .token_ratio = 0.1}));
  // The environment layers over what the budget has now.
  agent->reconfigure({.max_tokens = 40, .token_ratio = 1});
  const auto r = sites.load_environment([](const char* v) -> const char* {
    return std::strcmp(v, "IPSEC_RETRY_BUDGET_AGENT") == 0 ? "token_ratio=2\r\n" : nullptr;
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(agent->current_settings(), (budget_settings{.max_tokens = 40, .token_ratio = 2}));
}

namespace {

struct budget_error_case {
  const char* text;
  registry_errc code;
  const char* site;           // the error's site field
  const char* message_start;  // the message starts with this
};

// Names the case by its text in test listings (one line).
void PrintTo(const budget_error_case& c, std::ostream* os) {
  for (const char* p = c.text; *p != '\0'; ++p) *os << (*p == '\n' ? '|' : *p);
}

}  // namespace

class CallSiteBudgetConfigError : public ::testing::TestWithParam<budget_error_case> {};

TEST_P(CallSiteBudgetConfigError, NamesLineSiteAndColumnAndChangesNothing) {
  const auto& c = GetParam();
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.define("budget.taken", policy("attempts=2")));
  const auto r = sites.load_config(c.text);
  ASSERT_FALSE(r) << c.text;
  EXPECT_EQ(r.error().code, c.code) << r.error().message();
  EXPECT_EQ(r.error().site, c.site);
  EXPECT_EQ(r.error().message().rfind(c.message_start, 0), 0u) << r.error().message();
  // All or nothing: no budget was created, no site attached or changed.
  EXPECT_TRUE(sites.budgets().empty());
  for (const auto& name : sites.sites()) {
    EXPECT_EQ(site(sites, name).budget, nullptr) << name;
  }
  EXPECT_EQ(site(sites, "qm.delete").policy, ipsec::builtin_policy(policy_operation::remove));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CallSiteBudgetConfigError,
    ::testing::Values(
        budget_error_case{"qm.delete: budget=agnet\nbudget agent: max_tokens=4\n",
                          registry_errc::unknown_budget, "qm.delete",
                          "line 1 (qm.delete): column 19: unknown budget 'agnet' (did you mean "
                          "'agent'?"},
        budget_error_case{"qm.delete: timeout=5s, budget=agent", registry_errc::unknown_budget,
                          "qm.delete",
                          "line 1 (qm.delete): column 31: unknown budget 'agent' (no budget is "
                          "defined: add a line 'budget agent: max_tokens=10, token_ratio=0.1'"},
        budget_error_case{
            "budget agent: max_tokens=4\nqm.add: attempts=2\nbudget agent: "
            "token_ratio=1\n",
            registry_errc::duplicate_budget, "budget agent",
            "line 3 (budget agent): column 1: this budget already appeared on line 1"},
        budget_error_case{"budget agent: max_tokens=4, tokens=3", registry_errc::bad_budget,
                          "budget agent",
                          "line 1 (budget agent): column 29: unknown budget key 'tokens'"},
        budget_error_case{"budget agent: max_tokens=2000", registry_errc::bad_budget,
                          "budget agent",
                          "line 1 (budget agent): column 15: max_tokens must be in (0, 1000], "
                          "got 2000"},
        // The check names token_ratio (from the default), the line gave max_tokens: point there.
        budget_error_case{"budget agent:  max_tokens=0.05", registry_errc::bad_budget,
                          "budget agent",
                          "line 1 (budget agent): column 16: token_ratio must be in [0.001, "
                          "max_tokens = 0.05], got 0.1"},
        budget_error_case{"budget agent: max_tokens=4,", registry_errc::bad_budget, "budget agent",
                          "line 1 (budget agent): column 27: expected key=value after the last "
                          "separator"},
        budget_error_case{"budget agent:max_tokens=x", registry_errc::bad_budget, "budget agent",
                          "line 1 (budget agent): column 25: bad value 'x' for 'max_tokens'"},
        budget_error_case{"budget none: max_tokens=4", registry_errc::bad_budget, "budget none",
                          "line 1 (budget none): a budget name is"},
        budget_error_case{"budget a b: max_tokens=4", registry_errc::bad_budget, "budget a b",
                          "line 1 (budget a b): a budget name is"},
        budget_error_case{"budget taken: max_tokens=4", registry_errc::duplicate_budget,
                          "budget taken",
                          "line 1 (budget taken): its environment variable "
                          "IPSEC_RETRY_BUDGET_TAKEN is already that of site 'budget.taken'"},
        budget_error_case{"qm.delete: budget=a b", registry_errc::bad_policy, "qm.delete",
                          "line 1 (qm.delete): column 19: bad value 'a b' for 'budget'"},
        budget_error_case{"budget x: max_tokens=1\nqm.delete: budget=x, budget=x",
                          registry_errc::bad_policy, "qm.delete",
                          "line 2 (qm.delete): column 22: duplicate key 'budget' (first at column "
                          "12)"},
        // Cutting the budget item out must not hide errors, nor shift their columns.
        budget_error_case{"budget x: max_tokens=1\nqm.delete: budget=x, timeout=5",
                          registry_errc::bad_policy, "qm.delete",
                          "line 2 (qm.delete): column 30: bad value '5' for 'timeout'"},
        budget_error_case{"budget x: max_tokens=1\nqm.delete: timeout=5, budget=x",
                          registry_errc::bad_policy, "qm.delete",
                          "line 2 (qm.delete): column 20: bad value '5' for 'timeout'"},
        budget_error_case{"budget x: max_tokens=1\nqm.delete: budget=x,, attempts=2",
                          registry_errc::bad_policy, "qm.delete",
                          "line 2 (qm.delete): column 21: empty item: expected key=value before "
                          "','"},
        budget_error_case{"budget x: max_tokens=1\nqm.delete: budget=x;", registry_errc::bad_policy,
                          "qm.delete",
                          "line 2 (qm.delete): column 20: expected key=value after the last "
                          "separator"},
        budget_error_case{"qm.delete: timeout=5s,", registry_errc::bad_policy, "qm.delete",
                          "line 1 (qm.delete): column 22: expected key=value after the last "
                          "separator"},
        budget_error_case{"budget x: max_tokens=1\nqm.delete: Budget=x", registry_errc::bad_policy,
                          "qm.delete",
                          "line 2 (qm.delete): column 12: unknown key 'Budget' (did you mean "
                          "'budget'?)"},
        budget_error_case{"budget x: max_tokens=1\nqm.delete: attempts=2, budgte=x",
                          registry_errc::bad_policy, "qm.delete",
                          "line 2 (qm.delete): column 24: unknown key 'budgte' (did you mean "
                          "'budget'?)"},
        budget_error_case{"budget x: max_tokens=1\nqm.delete: budget=x, atempts=2",
                          registry_errc::bad_policy, "qm.delete",
                          "line 2 (qm.delete): column 22: unknown key 'atempts'"},
        budget_error_case{"budget x: max_tokens=1\nbudget: max_tokens=2",
                          registry_errc::unknown_site, "budget",
                          "line 2 (budget): column 1: unknown call site"}));

TEST(CallSiteBudgets, DefineAttachAndLookupRefuseWhatIsWrong) {
  ipsec::call_site_registry sites;
  for (std::string_view bad : {"", "none", "a b", "a:b"}) {
    const auto r = sites.define_budget(bad, {});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, registry_errc::bad_budget) << bad;
  }
  const auto invalid = sites.define_budget("agent", {.max_tokens = 0});
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().message(),
            "define_budget (budget agent): max_tokens must be in (0, 1000], got 0");
  EXPECT_TRUE(sites.budgets().empty());

  ASSERT_TRUE(sites.define_budget("agent", {}));
  const auto twice = sites.define_budget("agent", {.max_tokens = 5});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, registry_errc::duplicate_budget);
  EXPECT_EQ(budget(sites, "agent")->current_settings().max_tokens, 10.0);

  // A site and a budget may not read the same environment variable, whichever came first.
  const auto site_clash = sites.define("budget.agent", policy("attempts=2"));
  ASSERT_FALSE(site_clash);
  EXPECT_EQ(site_clash.error().message(),
            "define (budget.agent): its environment variable IPSEC_RETRY_BUDGET_AGENT is already "
            "that of budget 'agent'");
  ASSERT_TRUE(sites.define("budget.x", policy("attempts=2")));
  const auto budget_clash = sites.define_budget("X", {});
  ASSERT_FALSE(budget_clash);
  EXPECT_EQ(budget_clash.error().code, registry_errc::duplicate_budget);
  EXPECT_NE(budget_clash.error().message().find("site 'budget.x'"), std::string::npos)
      << budget_clash.error().message();

  const auto no_site = sites.attach_budget("qm.delet", "agent");
  ASSERT_FALSE(no_site);
  EXPECT_EQ(no_site.error().code, registry_errc::unknown_site);
  EXPECT_NE(no_site.error().message().find("did you mean 'qm.delete'?"), std::string::npos);
  const auto no_budget = sites.attach_budget("qm.delete", "agnet");
  ASSERT_FALSE(no_budget);
  EXPECT_EQ(no_budget.error().code, registry_errc::unknown_budget);
  EXPECT_EQ(no_budget.error().message(),
            "attach_budget (qm.delete): unknown budget 'agnet' (did you mean 'agent'? budgets "
            "come from 'budget NAME: ...' lines or define_budget())");
  EXPECT_EQ(site(sites, "qm.delete").budget, nullptr);

  const auto lookup = sites.budget("agnet");
  ASSERT_FALSE(lookup);
  EXPECT_EQ(lookup.error().code, registry_errc::unknown_budget);
  const auto unknown_site = sites.site("qm.delet");
  ASSERT_FALSE(unknown_site);
  EXPECT_EQ(unknown_site.error().code, registry_errc::unknown_site);
}

namespace {

const char* lookup(const std::vector<std::pair<const char*, const char*>>& table,
                   const char* variable) {
  for (const auto& [name, value] : table) {
    if (std::strcmp(name, variable) == 0) return value;
  }
  return nullptr;
}

}  // namespace

TEST(CallSiteBudgets, TheEnvironmentAttachesSitesAndTunesBudgets) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_config("budget agent: max_tokens=4\nqm.set: budget=agent"));
  EXPECT_EQ(ipsec::call_site_registry::budget_environment_variable("slow.path-2"),
            "IPSEC_RETRY_BUDGET_SLOW_PATH_2");
  const std::vector<std::pair<const char*, const char*>> good = {
      {"IPSEC_RETRY_QM_DELETE", "timeout=90s, budget=agent"},
      {"IPSEC_RETRY_QM_SET", "budget=none"},
      {"IPSEC_RETRY_BUDGET_AGENT", "token_ratio=0.5"},
  };
  const auto r = sites.load_environment([&](const char* v) { return lookup(good, v); });
  ASSERT_TRUE(r) << r.error().message();
  ir::retry_budget* agent = budget(sites, "agent");
  EXPECT_EQ(agent->current_settings(), (budget_settings{.max_tokens = 4, .token_ratio = 0.5}))
      << "on top of the current settings";
  EXPECT_EQ(site(sites, "qm.delete").budget, agent);
  EXPECT_EQ(site(sites, "qm.delete").policy,
            over(ipsec::builtin_policy(policy_operation::remove), "timeout=90s"));
  EXPECT_EQ(site(sites, "qm.set").budget, nullptr);

  const std::vector<std::vector<std::pair<const char*, const char*>>> bad = {
      {{"IPSEC_RETRY_MM_ADD", "budget=agent"}, {"IPSEC_RETRY_QM_ADD", "budget=agnet"}},
      {{"IPSEC_RETRY_MM_ADD", "budget=agent"}, {"IPSEC_RETRY_BUDGET_AGENT", "max_tokens=x"}},
  };
  const char* expected[] = {
      "IPSEC_RETRY_QM_ADD (qm.add): column 8: unknown budget 'agnet' (did you mean 'agent'?",
      "IPSEC_RETRY_BUDGET_AGENT (budget agent): column 12: bad value 'x' for 'max_tokens'",
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const auto failed = sites.load_environment([&](const char* v) { return lookup(bad[i], v); });
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().message().rfind(expected[i], 0), 0u) << failed.error().message();
    EXPECT_EQ(site(sites, "mm.add").budget, nullptr) << "nothing changed";
    EXPECT_EQ(agent->current_settings().token_ratio, 0.5);
  }
}

// The whole story through a typed wrapper: the operator shares one budget between deleting and
// re-adding a QM policy; an agent that is down (RPC_S_SERVER_UNAVAILABLE on every call)
// exhausts it, so the re-add is not retried. (A pending deletion costs no token: a 10 s one,
// as this test used before issue 11, no longer exhausts the budget; see guards_test.)
TEST(CallSiteBudgets, AConfiguredBudgetStopsAStormThroughTheTypedWrappers) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(
      sites.load_config("budget agent: max_tokens=10, token_ratio=0.1\n"
                        "qm.delete: initial=10ms, jitter=none, budget=agent\n"
                        "qm.add:    initial=10ms, jitter=none, budget=agent\n"));
  ir::virtual_time vt;
  ipsec::simulated_agent agent(vt.clock());
  for (std::uint64_t call = 1; call <= 100; ++call) {
    agent.inject(call, ir::win32_error::rpc_s_server_unavailable);
  }

  const auto remove = site(sites, "qm.delete");
  const auto deleted = ipsec::delete_qm_policy(
      agent, L"corp-qm", remove.policy,
      ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper(), .guard = remove.guard()});
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(deleted.error().calls, 5u) << "10 tokens: retries while tokens > 5";
  EXPECT_EQ(deleted.error().code, ir::win32_error::rpc_s_server_unavailable);

  const auto add = site(sites, "qm.add");
  const auto added = ipsec::add_qm_policy(
      agent, L"corp-qm", {}, add.policy,
      ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper(), .guard = add.guard()});
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(added.error().calls, 1u);
  EXPECT_EQ(agent.calls(), 6u) << "the agent saw 6 calls in all, not a storm";
  EXPECT_LT(vt.elapsed(), 1s);
}

// Under TSan: retries spend and refill a registry's budget while another thread reloads the
// configuration that reconfigures it. Every caller ends in a state its policy allows.
TEST(CallSiteBudgetsThreads, RetriesShareABudgetWhileTheConfigurationReloads) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_config("budget agent: max_tokens=6\nqm.delete: attempts=4, budget=agent"));
  ir::retry_budget* const agent = budget(sites, "agent");
  std::atomic<bool> done{false};
  std::thread reloader([&] {
    for (int i = 0; !done.load(); ++i) {
      const auto r = sites.load_config(i % 2 ? "budget agent: max_tokens=6\n"
                                             : "budget agent: max_tokens=50, token_ratio=2\n");
      ASSERT_TRUE(r);
      std::this_thread::yield();
    }
  });
  std::atomic<int> succeeded{0};
  std::atomic<int> refused{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      ir::virtual_time vt;
      for (int i = 0; i < 300; ++i) {
        const auto s = sites.site("qm.delete").value();
        if (s.budget != agent) ++unexpected;
        // 0, 1 or 2 failures before success: some first calls succeed, refilling the budget.
        const int failures = (t + i) % 3;
        int call = 0;
        const auto r = ir::retry(
            s.policy, [&] { return call++ < failures ? server_too_busy : 0u; },
            ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper(), .guard = s.guard()});
        if (r) {
          ++succeeded;
        } else if (r.error().reason == ir::stop_reason::budget_exhausted) {
          ++refused;
        } else {
          ++unexpected;
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  done = true;
  reloader.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(succeeded.load() + refused.load(), 1200);
  EXPECT_GT(succeeded.load(), 0);
  const double tokens = agent->tokens();
  EXPECT_GE(tokens, 0.0);
  EXPECT_LE(tokens, agent->current_settings().max_tokens);
}
