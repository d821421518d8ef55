// SPDX-License-Identifier: BSL-1.0
// ipsec/call_sites.hpp: the call-site registry, its config and environment loading and their
// errors; the multi-threaded test also runs under TSan.
#include "ipsec_test_support.hpp"

#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/operations.hpp>

#include <gtest/gtest.h>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

using namespace ipsec_test;

// ---------------------------------------------------------------------------------------------
// call_site_registry.

namespace {

ir::retry_policy builtin(policy_operation op) {
  return ipsec::builtin_policy(op);
}

// Every typed operation's site, sorted (call_sites.hpp).
std::vector<std::string> builtin_sites(std::vector<std::string> plus = {}) {
  std::vector<std::string> names{"mm.add",      "mm.delete",      "mm.set",
                                 "mm_auth.add", "mm_auth.delete", "mm_auth.set"};
  for (const char* filter : {"mm_filter", "transport_filter", "tunnel_filter"}) {
    for (const char* op : {".add", ".close", ".delete", ".open", ".set"}) {
      names.push_back(std::string(filter) + op);
    }
  }
  for (const char* qm : {"qm.add", "qm.delete", "qm.set"}) names.emplace_back(qm);
  names.insert(names.end(), plus.begin(), plus.end());
  std::sort(names.begin(), names.end());
  return names;
}

// The default policy of a built-in site, from its name.
ir::retry_policy builtin_of(std::string_view site) {
  for (auto object : {ir::object_kind::qm_policy, ir::object_kind::mm_policy,
                      ir::object_kind::mm_auth_methods, ir::object_kind::transport_filter,
                      ir::object_kind::tunnel_filter, ir::object_kind::mm_filter}) {
    for (auto op :
         {ipsec::agent_operation::add, ipsec::agent_operation::set, ipsec::agent_operation::remove,
          ipsec::agent_operation::open, ipsec::agent_operation::close}) {
      if (ipsec::site_name(object, op) == site) return ipsec::builtin_policy(object, op);
    }
  }
  ADD_FAILURE() << "not a built-in site: " << site;
  return {};
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

// site_name is declared in call_sites.hpp; the test keeps its first name.
TEST(TypedOperations, SiteNames) {
  EXPECT_EQ(ipsec::site_name(policy_kind::quick_mode, policy_operation::add), "qm.add");
  EXPECT_EQ(ipsec::site_name(policy_kind::quick_mode, policy_operation::set), "qm.set");
  EXPECT_EQ(ipsec::site_name(policy_kind::quick_mode, policy_operation::remove), "qm.delete");
  EXPECT_EQ(ipsec::site_name(policy_kind::main_mode, policy_operation::add), "mm.add");
  EXPECT_EQ(ipsec::site_name(policy_kind::main_mode, policy_operation::set), "mm.set");
  EXPECT_EQ(ipsec::site_name(policy_kind::main_mode, policy_operation::remove), "mm.delete");
}

TEST(CallSites, BuiltInSitesStartAtTheirDefaults) {
  const ipsec::call_site_registry sites;
  EXPECT_EQ(sites.sites(), builtin_sites());
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
  EXPECT_EQ(sites.sites(), builtin_sites({"A-9_z", "wfp.add_filter"}));
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
  EXPECT_EQ(sites.sites().size(), builtin_sites().size() + 1);
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
    EXPECT_EQ(site_policy(sites, site), builtin_of(site)) << site;
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
