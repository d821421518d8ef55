// SPDX-License-Identifier: BSL-1.0
// Circuit breakers in the call-site registry (issue 13 item 5): the breaker's settings text,
// `breaker NAME:` lines, `breaker=NAME` on a site, one breaker per server, and a site whose
// calls pass both its budget and its breaker.
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;
using ipsec::registry_errc;
using breaker_settings = ir::circuit_breaker::settings;

namespace {

constexpr std::uint32_t server_unavailable = 1722;  // RPC_S_SERVER_UNAVAILABLE: transport

ipsec::call_site site(const ipsec::call_site_registry& sites, std::string_view name) {
  auto s = sites.site(name);
  EXPECT_TRUE(s) << name;
  return s ? s.value() : ipsec::call_site{};
}

// Retries `code` on every call through the site's guard for `server`, in virtual time.
auto retry_failing(const ipsec::call_site& s, ir::virtual_time& vt, std::uint32_t code,
                   std::wstring_view server = {}) {
  return ir::retry(
      s.policy, [code] { return code; },
      ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper(), .guard = s.guard(server)});
}

}  // namespace

TEST(BreakerSettings, ParseFormatRoundTrip) {
  const auto s = ir::circuit_breaker::parse("failure_threshold=3, cool_down=1.5s");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s.value(), (breaker_settings{.failure_threshold = 3, .cool_down = 1500ms}));
  EXPECT_EQ(ir::circuit_breaker::format(s.value()), "failure_threshold=3, cool_down=1500ms");
  EXPECT_EQ(ir::circuit_breaker::format({}), "failure_threshold=5, cool_down=30s");
  for (const breaker_settings& b :
       {breaker_settings{}, breaker_settings{1, 1ns}, breaker_settings{4294967295u, 2h}}) {
    const auto again = ir::circuit_breaker::parse(ir::circuit_breaker::format(b));
    ASSERT_TRUE(again) << ir::circuit_breaker::format(b);
    EXPECT_EQ(again.value(), b);
  }
  // Keys not given keep the base's values; a blank text is the base.
  const breaker_settings base{.failure_threshold = 9, .cool_down = 1min};
  EXPECT_EQ(ir::circuit_breaker::parse("cool_down=2s", base).value(),
            (breaker_settings{.failure_threshold = 9, .cool_down = 2s}));
  EXPECT_EQ(ir::circuit_breaker::parse(" \r\n", base).value(), base);
  // The budget's settings format the same way.
  EXPECT_EQ(ir::retry_budget::format({.max_tokens = 10, .token_ratio = 0.1}),
            "max_tokens=10, token_ratio=0.1");
  const ir::retry_budget::settings odd{.max_tokens = 2.5, .token_ratio = 0.125};
  EXPECT_EQ(ir::retry_budget::parse(ir::retry_budget::format(odd)).value(), odd);
}

struct bad_breaker {
  const char* text;
  ir::policy_errc code;
  std::size_t column;
  const char* message;  // the whole message
  friend std::ostream& operator<<(std::ostream& os, const bad_breaker& b) {
    return os << '"' << b.text << '"';
  }
};

class BreakerSettingsRejects : public testing::TestWithParam<bad_breaker> {};

TEST_P(BreakerSettingsRejects, NamingTheKeyAndItsColumn) {
  const bad_breaker& b = GetParam();
  const auto s = ir::circuit_breaker::parse(b.text);
  ASSERT_FALSE(s) << b.text;
  EXPECT_EQ(s.error().code, b.code);
  EXPECT_EQ(s.error().column, b.column);
  EXPECT_EQ(s.error().message(), b.message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BreakerSettingsRejects,
    testing::Values(
        bad_breaker{"failure_threshold=0", ir::policy_errc::out_of_range, 1,
                    "column 1: failure_threshold must be >= 1 (the transport failures in a row "
                    "that open the breaker)"},
        bad_breaker{"failure_threshold=2, cool_down=0ms", ir::policy_errc::out_of_range, 22,
                    "column 22: cool_down must be > 0: a breaker that never stays open protects "
                    "nothing"},
        bad_breaker{"cool_down=5", ir::policy_errc::bad_value, 11,
                    "column 11: bad value '5' for 'cool_down': expected a duration: a number and "
                    "a unit (ns, us, ms, s, min, h), e.g. 30s"},
        bad_breaker{"failure_threshold=-1", ir::policy_errc::bad_value, 19,
                    "column 19: bad value '-1' for 'failure_threshold': expected an integer >= 1"},
        bad_breaker{"threshold=3", ir::policy_errc::unknown_key, 1,
                    "column 1: unknown breaker key 'threshold' (expected failure_threshold or "
                    "cool_down)"},
        bad_breaker{"cool_down=1s; cool_down=2s", ir::policy_errc::duplicate_key, 15,
                    "column 15: duplicate key 'cool_down' (first at column 1)"},
        bad_breaker{"cool_down=1s,", ir::policy_errc::syntax, 13,
                    "column 13: expected key=value after the last separator"}));

TEST(CallSiteBreakers, ASiteBreakerOpensAfterTheThresholdAndClosesAfterAProbe) {
  ir::virtual_time vt;
  ipsec::call_site_registry sites(vt.clock());
  ASSERT_TRUE(
      sites.load_config("breaker agent: failure_threshold=3, cool_down=10s\n"
                        "qm.delete: initial=10ms, jitter=none, attempts=10, breaker=agent\n"));
  EXPECT_EQ(sites.breakers(), std::vector<std::string>{"agent"});
  const auto s = site(sites, "qm.delete");
  ASSERT_NE(s.breakers, nullptr);
  EXPECT_EQ(s.breakers, sites.breaker("agent").value());
  EXPECT_EQ(s.budget, nullptr);

  // Three transport failures in a row open it: the fourth call is refused.
  const auto opened = retry_failing(s, vt, server_unavailable);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().reason, ir::stop_reason::circuit_open);
  EXPECT_EQ(opened.error().calls, 3u);
  EXPECT_EQ(opened.error().code, ir::win32_error::rpc_s_server_unavailable);
  ir::circuit_breaker& breaker = s.breakers->for_server(L"");
  EXPECT_EQ(breaker.current(), ir::circuit_breaker::state::open);

  // While open, even a first call is refused, keeping the code the breaker saw.
  const auto refused = retry_failing(s, vt, 0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, ir::stop_reason::circuit_open);
  EXPECT_EQ(refused.error().calls, 0u);
  EXPECT_EQ(refused.error().code, ir::win32_error::rpc_s_server_unavailable);

  // The breaker reads the registry's (virtual) clock: after cool_down one probe goes through.
  vt.advance(10s);
  const auto probed = retry_failing(s, vt, 0);
  ASSERT_TRUE(probed);
  EXPECT_EQ(breaker.current(), ir::circuit_breaker::state::closed);
}

TEST(CallSiteBreakers, OneBreakerPerServerNamedAsWindowsComparesThem) {
  ir::virtual_time vt;
  ipsec::call_site_registry sites(vt.clock());
  ASSERT_TRUE(
      sites.load_config("breaker agent: failure_threshold=2\nqm.add: breaker=agent\n"
                        "mm.add: breaker=agent, attempts=5"));
  const auto qm = site(sites, "qm.add");
  const auto mm = site(sites, "mm.add");
  EXPECT_EQ(qm.breakers, mm.breakers) << "sites naming one breaker share it";
  ASSERT_FALSE(retry_failing(qm, vt, server_unavailable, L"srv1"));
  const auto shared = retry_failing(mm, vt, 0, L"SRV1");
  ASSERT_FALSE(shared);
  EXPECT_EQ(shared.error().reason, ir::stop_reason::circuit_open) << "srv1 is SRV1";
  EXPECT_TRUE(retry_failing(mm, vt, 0, L"srv2")) << "another server has its own breaker";
  EXPECT_TRUE(retry_failing(mm, vt, 0)) << "and so has this machine";
}

TEST(CallSiteBreakers, ASiteWithABudgetAndABreakerGoesThroughBoth) {
  ir::virtual_time vt;
  ipsec::call_site_registry sites(vt.clock());
  ASSERT_TRUE(
      sites.load_config("budget agent: max_tokens=100\n"
                        "breaker agent: failure_threshold=3\n"
                        "qm.set: attempts=10, budget=agent, breaker=agent\n"));
  const auto s = site(sites, "qm.set");
  ASSERT_NE(s.budget, nullptr);
  ASSERT_NE(s.breakers, nullptr);
  const auto r = retry_failing(s, vt, server_unavailable);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::circuit_open);
  EXPECT_EQ(r.error().calls, 3u);
  EXPECT_DOUBLE_EQ(s.budget->tokens(), 97.0) << "the budget was charged for each failure";

  // A small budget refuses first; the breaker learnt the two failures but stays closed.
  ASSERT_TRUE(
      sites.load_config("budget small: max_tokens=4\nbreaker other: failure_threshold=3\n"
                        "qm.add: attempts=10, budget=small, breaker=other\n"));
  const auto add = site(sites, "qm.add");
  const auto spent = retry_failing(add, vt, server_unavailable);
  ASSERT_FALSE(spent);
  EXPECT_EQ(spent.error().reason, ir::stop_reason::budget_exhausted);
  EXPECT_EQ(spent.error().calls, 2u);
  EXPECT_EQ(add.breakers->for_server(L"").current(), ir::circuit_breaker::state::closed);
}

TEST(CallSiteBreakers, TheTypedWrapperStopsWithCircuitOpen) {
  ir::virtual_time vt;
  ipsec::call_site_registry sites(vt.clock());
  ASSERT_TRUE(
      sites.load_config("breaker agent: failure_threshold=4, cool_down=1min\n"
                        "qm.delete: initial=10ms, jitter=none, breaker=agent\n"));
  ipsec::simulated_agent agent(vt.clock());
  for (std::uint64_t call = 1; call <= 100; ++call) {
    agent.inject(call, ir::win32_error::rpc_s_server_unavailable);
  }
  const auto remove = site(sites, "qm.delete");
  const auto deleted = ipsec::delete_qm_policy(
      agent, L"corp-qm", remove.policy,
      ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper(), .guard = remove.guard()});
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().reason, ir::stop_reason::circuit_open);
  EXPECT_EQ(deleted.error().calls, 4u);
  EXPECT_EQ(agent.calls(), 4u) << "the agent saw the threshold's calls, not a storm";
  EXPECT_LT(vt.elapsed(), 1s);
}

TEST(CallSiteBreakers, AReloadReconfiguresTheSameBreakersAndKeepsTheirState) {
  ir::virtual_time vt;
  ipsec::call_site_registry sites(vt.clock());
  ASSERT_TRUE(sites.define_breaker("agent", {.failure_threshold = 2, .cool_down = 5s}));
  ASSERT_TRUE(sites.attach_breaker("qm.delete", "agent"));
  ir::circuit_breakers* agent = sites.breaker("agent").value();
  ASSERT_FALSE(retry_failing(site(sites, "qm.delete"), vt, server_unavailable));
  ASSERT_EQ(agent->for_server(L"").current(), ir::circuit_breaker::state::open);

  ASSERT_TRUE(sites.load_config("breaker agent: cool_down=1min\nqm.delete: attempts=3"));
  EXPECT_EQ(sites.breaker("agent").value(), agent) << "pointers handed out stay valid";
  EXPECT_EQ(agent->current_settings(),
            (breaker_settings{.failure_threshold = 2, .cool_down = 1min}))
      << "keys not given keep define_breaker's values";
  EXPECT_EQ(agent->for_server(L"").current(), ir::circuit_breaker::state::open);
  EXPECT_EQ(agent->for_server(L"").current_settings().cool_down, 1min);
  EXPECT_EQ(site(sites, "qm.delete").breakers, agent) << "a line without breaker= keeps it";
  ASSERT_TRUE(sites.load_config("qm.delete: breaker=none"));
  EXPECT_EQ(site(sites, "qm.delete").breakers, nullptr);

  const auto r = sites.load_environment([](const char* v) -> const char* {
    if (std::strcmp(v, "IPSEC_RETRY_BREAKER_AGENT") == 0) return "failure_threshold=7";
    if (std::strcmp(v, "IPSEC_RETRY_QM_ADD") == 0) return "breaker=agent";
    return nullptr;
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(agent->current_settings().failure_threshold, 7u);
  EXPECT_EQ(site(sites, "qm.add").breakers, agent);
}

namespace {

struct breaker_error_case {
  const char* text;
  registry_errc code;
  std::size_t line;
  std::size_t column;
  const char* key;
  const char* message;  // the whole message
};

void PrintTo(const breaker_error_case& c, std::ostream* os) {
  for (const char* p = c.text; *p != '\0'; ++p) *os << (*p == '\n' ? '|' : *p);
}

}  // namespace

class CallSiteBreakerConfigError : public ::testing::TestWithParam<breaker_error_case> {};

TEST_P(CallSiteBreakerConfigError, NamesLineKeyAndColumnAndChangesNothing) {
  const auto& c = GetParam();
  ipsec::call_site_registry sites;
  const auto r = sites.load_config(c.text);
  ASSERT_FALSE(r) << c.text;
  EXPECT_EQ(r.error().code, c.code);
  EXPECT_EQ(r.error().line, c.line);
  EXPECT_EQ(r.error().column, c.column);
  EXPECT_EQ(r.error().key, c.key);
  EXPECT_EQ(r.error().message(), c.message);
  EXPECT_TRUE(sites.breakers().empty());
  EXPECT_TRUE(sites.budgets().empty());
  for (const auto& name : sites.sites()) EXPECT_EQ(site(sites, name).breakers, nullptr) << name;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CallSiteBreakerConfigError,
    ::testing::Values(
        breaker_error_case{"qm.delete: breaker=agnet\nbreaker agent: failure_threshold=3\n",
                           registry_errc::unknown_breaker, 1, 20, "breaker",
                           "line 1 (qm.delete): column 20: unknown breaker 'agnet' (did you mean "
                           "'agent'? breakers come from 'breaker NAME: ...' lines or "
                           "define_breaker())"},
        breaker_error_case{"qm.add: attempts=2\nqm.delete: timeout=5s, breaker=agent",
                           registry_errc::unknown_breaker, 2, 32, "breaker",
                           "line 2 (qm.delete): column 32: unknown breaker 'agent' (no breaker is "
                           "defined: add a line 'breaker agent: failure_threshold=5, "
                           "cool_down=30s' or call define_breaker())"},
        breaker_error_case{"budget b: max_tokens=4\nbreaker agent:  failure_threshold=0",
                           registry_errc::bad_breaker, 2, 17, "failure_threshold",
                           "line 2 (breaker agent): column 17: failure_threshold must be >= 1 "
                           "(the transport failures in a row that open the breaker)"},
        breaker_error_case{"breaker agent: cool_down=5", registry_errc::bad_breaker, 1, 26,
                           "cool_down",
                           "line 1 (breaker agent): column 26: bad value '5' for 'cool_down': "
                           "expected a duration: a number and a unit (ns, us, ms, s, min, h), "
                           "e.g. 30s"},
        breaker_error_case{"breaker agent: cool_down=5s\nbreaker agent: failure_threshold=2",
                           registry_errc::duplicate_breaker, 2, 1, "",
                           "line 2 (breaker agent): column 1: this breaker already appeared on "
                           "line 1"},
        breaker_error_case{"breaker none: cool_down=5s", registry_errc::bad_breaker, 1, 0, "",
                           "line 1 (breaker none): a breaker name is letters, digits, '.', '_' "
                           "and '-', and not 'none'"},
        breaker_error_case{"breaker x: cool_down=5s\nqm.delete: breaker=x, breaker=x",
                           registry_errc::bad_policy, 2, 23, "breaker",
                           "line 2 (qm.delete): column 23: duplicate key 'breaker' (first at "
                           "column 12)"},
        breaker_error_case{"qm.delete: breaker=a b", registry_errc::bad_policy, 1, 20, "breaker",
                           "line 1 (qm.delete): column 20: bad value 'a b' for 'breaker': "
                           "expected a breaker's name (letters, digits, '.', '_', '-') or none"},
        breaker_error_case{"qm.delete: attempts=2, breakr=x", registry_errc::bad_policy, 1, 24, "",
                           "line 1 (qm.delete): column 24: unknown key 'breakr' (did you mean "
                           "'breaker'?)"}));

TEST(CallSiteBreakers, DefineAttachAndLookupRefuseWhatIsWrong) {
  ipsec::call_site_registry sites;
  const auto invalid = sites.define_breaker("agent", {.failure_threshold = 0});
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code, registry_errc::bad_breaker);
  EXPECT_EQ(invalid.error().message(),
            "define_breaker (breaker agent): failure_threshold must be >= 1 (the transport "
            "failures in a row that open the breaker)");
  ASSERT_TRUE(sites.define_breaker("agent", {}));
  EXPECT_EQ(sites.define_breaker("agent", {}).error().code, registry_errc::duplicate_breaker);
  const auto clash = sites.define("breaker.agent", ir::retry_policy{});
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().message(),
            "define (breaker.agent): its environment variable IPSEC_RETRY_BREAKER_AGENT is "
            "already that of breaker 'agent'");
  const auto typo = sites.attach_breaker("qm.delete", "agnet");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().code, registry_errc::unknown_breaker);
  EXPECT_EQ(sites.breaker("nope").error().code, registry_errc::unknown_breaker);
  EXPECT_EQ(ipsec::call_site_registry::breaker_environment_variable("slow.path-2"),
            "IPSEC_RETRY_BREAKER_SLOW_PATH_2");
}
