// SPDX-License-Identifier: BSL-1.0
// ipsec/call_sites.hpp and registry_source.hpp: Group Policy's registry values through a fake
// registry (precedence, types, errors, all-or-nothing), reload(), where each setting came from,
// named configuration texts, and misspelt environment variables.
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/registry_source.hpp>

#include <gtest/gtest.h>

#include "fake_registry.hpp"

#include <chrono>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;
using ipsec::registry_hive;
using ipsec::registry_value;

namespace {

constexpr const char* sites_key = "SOFTWARE\\Policies\\ipsec_retry\\Sites";
constexpr const char* budgets_key = "SOFTWARE\\Policies\\ipsec_retry\\Budgets";
constexpr const char* breakers_key = "SOFTWARE\\Policies\\ipsec_retry\\Breakers";
constexpr std::uint32_t reg_dword = 4;

using ir::test::fake_registry;

std::chrono::nanoseconds timeout_of(const ipsec::call_site_registry& sites, const char* site) {
  return *sites.policy(site).value().settings().timeout;
}

ipsec::call_site_registry::site_description described(const ipsec::call_site_registry& sites,
                                                      const std::string& name) {
  for (auto& d : sites.describe_sites()) {
    if (d.name == name) return d;
  }
  ADD_FAILURE() << "no site " << name;
  return {};
}

}  // namespace

TEST(RegistrySource, HklmWinsOverHkcuAndBothAreSources) {
  fake_registry registry;
  registry.set(registry_hive::current_user, sites_key, "qm.delete", "timeout=40s, attempts=7");
  registry.set(registry_hive::local_machine, sites_key, "qm.delete", "timeout=90s");
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_registry(registry.reader()));
  EXPECT_EQ(timeout_of(sites, "qm.delete"), 90s);
  EXPECT_EQ(sites.policy("qm.delete").value().settings().attempts, 7u);  // HKCU's, not overridden
  EXPECT_EQ(described(sites, "qm.delete").sources,
            (std::vector<std::string>{"HKCU\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete",
                                      "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete"}));
  EXPECT_TRUE(described(sites, "qm.add").sources.empty());  // its default
  EXPECT_EQ(sites.policy("qm.add").value(), ipsec::builtin_policy(ipsec::agent_operation::add));
}

TEST(RegistrySource, ReloadAppliesTextEnvironmentThenRegistryAndFallsBackWhenAValueGoes) {
  fake_registry registry;
  registry.set(registry_hive::current_user, sites_key, "qm.delete", "timeout=30s");
  ipsec::call_site_registry::configuration_sources from;
  from.config_text = "qm.delete: timeout=10s, attempts=5\nqm.add: timeout=3s\n";
  from.config_name = "C:\\ProgramData\\app\\sites.conf";
  from.getenv = [](const char* name) -> const char* {
    return std::string_view(name) == "IPSEC_RETRY_QM_DELETE" ? "timeout=20s, initial=5ms" : nullptr;
  };
  from.registry = registry.reader();
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.reload(from));
  const auto qm_delete = sites.policy("qm.delete").value().settings();
  EXPECT_EQ(*qm_delete.timeout, 30s);        // the registry's
  EXPECT_EQ(qm_delete.attempts, 5u);         // the text's
  EXPECT_EQ(qm_delete.delays.initial, 5ms);  // the environment's
  EXPECT_EQ(described(sites, "qm.delete").sources,
            (std::vector<std::string>{"C:\\ProgramData\\app\\sites.conf:1", "IPSEC_RETRY_QM_DELETE",
                                      "HKCU\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete"}));
  EXPECT_EQ(described(sites, "qm.add").sources,
            std::vector<std::string>{"C:\\ProgramData\\app\\sites.conf:2"});

  // The administrator removes the value: a reload falls back to the environment's 20s, where
  // a load_registry() on top would have kept 30s.
  registry.keys.clear();
  from.config_text = "qm.delete: attempts=5\n";  // and qm.add's line is gone
  ASSERT_TRUE(sites.reload(from));
  EXPECT_EQ(timeout_of(sites, "qm.delete"), 20s);
  EXPECT_EQ(sites.policy("qm.add").value(), ipsec::builtin_policy(ipsec::agent_operation::add));
  EXPECT_TRUE(described(sites, "qm.add").sources.empty());
}

TEST(RegistrySource, AValueOfAnotherTypeIsAnErrorNamingItAndNothingChanges) {
  fake_registry registry;
  registry.set(registry_hive::local_machine, sites_key, "qm.add", "timeout=2s");
  registry.set(registry_hive::local_machine, sites_key, "qm.delete", "", reg_dword);
  ipsec::call_site_registry sites;
  auto loaded = sites.load_registry(registry.reader());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ipsec::registry_errc::bad_value_type);
  EXPECT_EQ(loaded.error().source, "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete");
  EXPECT_NE(loaded.error().message().find("is REG_DWORD; ipsec_retry reads REG_SZ values only"),
            std::string::npos)
      << loaded.error().message();
  // qm.add sorts first and was staged, but the load is all or nothing.
  EXPECT_EQ(sites.policy("qm.add").value(), ipsec::builtin_policy(ipsec::agent_operation::add));
}

TEST(RegistrySource, BadTextNamesTheValueAndTheColumn) {
  fake_registry registry;
  registry.set(registry_hive::current_user, sites_key, "qm.delete", "attempts=3, timeout=5");
  ipsec::call_site_registry sites;
  auto loaded = sites.load_registry(registry.reader());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ipsec::registry_errc::bad_policy);
  const std::string message = loaded.error().message();
  EXPECT_EQ(message.rfind("HKCU\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete (qm.delete): "
                          "column 21: ",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("'timeout'"), std::string::npos) << message;
}

TEST(RegistrySource, ValuesOfSitesThisProgramDoesNotDefineAreSkippedAndReported) {
  fake_registry registry;
  registry.set(registry_hive::local_machine, sites_key, "qm.delet", "timeout=90s");
  registry.set(registry_hive::local_machine, sites_key, "wfp.add_filter", "timeout=9s");
  registry.set(registry_hive::local_machine, sites_key, "qm.delete", "timeout=91s");
  ipsec::call_site_registry sites;
  std::vector<std::string> skipped;
  ASSERT_TRUE(sites.load_registry(registry.reader(), &skipped));
  EXPECT_EQ(timeout_of(sites, "qm.delete"), 91s);
  EXPECT_EQ(skipped, (std::vector<std::string>{
                         "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delet",
                         "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\wfp.add_filter"}));
  // A host that defines the site reads it.
  ASSERT_TRUE(sites.define("wfp.add_filter", ir::retry_policy::parse("timeout=1s").value()));
  ASSERT_TRUE(sites.load_registry(registry.reader()));
  EXPECT_EQ(timeout_of(sites, "wfp.add_filter"), 9s);
}

TEST(RegistrySource, BudgetsAndBreakersMayBeCreatedAndNamedFromEitherHive) {
  fake_registry registry;
  registry.set(registry_hive::current_user, sites_key, "qm.delete", "budget=agent, breaker=agent");
  registry.set(registry_hive::local_machine, budgets_key, "agent", "max_tokens=20");
  registry.set(registry_hive::current_user, budgets_key, "agent", "max_tokens=5, token_ratio=0.5");
  registry.set(registry_hive::local_machine, breakers_key, "agent", "cool_down=1min");
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_registry(registry.reader()));
  const auto site = sites.site("qm.delete").value();
  ASSERT_NE(site.budget, nullptr);
  EXPECT_EQ(site.budget, sites.budget("agent").value());
  ASSERT_NE(site.breakers, nullptr);
  const auto budgets = sites.describe_budgets();
  ASSERT_EQ(budgets.size(), 1u);
  // HKLM's max_tokens over HKCU's token_ratio.
  EXPECT_EQ(budgets[0].settings, "max_tokens=20, token_ratio=0.5");
  EXPECT_EQ(budgets[0].sources,
            (std::vector<std::string>{"HKCU\\SOFTWARE\\Policies\\ipsec_retry\\Budgets\\agent",
                                      "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Budgets\\agent"}));
  const auto breakers = sites.describe_breakers();
  ASSERT_EQ(breakers.size(), 1u);
  EXPECT_NE(breakers[0].settings.find("cool_down=1min"), std::string::npos) << breakers[0].settings;
  EXPECT_EQ(described(sites, "qm.delete").budget, "agent");
}

TEST(RegistrySource, BadBudgetNamesAndUnknownReferencesAreErrors) {
  {
    fake_registry registry;
    registry.set(registry_hive::local_machine, budgets_key, "none", "max_tokens=20");
    ipsec::call_site_registry sites;
    auto loaded = sites.load_registry(registry.reader());
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code, ipsec::registry_errc::bad_budget);
    EXPECT_EQ(loaded.error().source, "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Budgets\\none");
  }
  {
    fake_registry registry;
    registry.set(registry_hive::local_machine, budgets_key, "agent", "max_tokens=20");
    registry.set(registry_hive::local_machine, sites_key, "qm.delete", "budget=agnet");
    ipsec::call_site_registry sites;
    auto loaded = sites.load_registry(registry.reader());
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code, ipsec::registry_errc::unknown_budget);
    EXPECT_EQ(loaded.error().source, "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete");
    EXPECT_NE(loaded.error().message().find("did you mean 'agent'"), std::string::npos)
        << loaded.error().message();
    EXPECT_TRUE(sites.budgets().empty());  // the budget was staged only
  }
}

TEST(RegistrySource, AnUnreadableKeyIsAnErrorNamingItAndNothingChanges) {
  fake_registry registry;
  registry.set(registry_hive::current_user, sites_key, "qm.delete", "timeout=40s");
  registry.unreadable.emplace_back(registry_hive::local_machine, sites_key);
  ipsec::call_site_registry sites;
  auto loaded = sites.load_registry(registry.reader());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ipsec::registry_errc::unreadable_source);
  EXPECT_EQ(loaded.error().source, "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites");
  EXPECT_NE(loaded.error().message().find("could not be read"), std::string::npos);
  EXPECT_EQ(sites.policy("qm.delete").value(),
            ipsec::builtin_policy(ipsec::agent_operation::remove));
}

TEST(RegistrySource, ReadsSixKeysOncePerLoad) {
  fake_registry registry;
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_registry(registry.reader()));
  EXPECT_EQ(registry.reads.size(), 6u);  // {Budgets, Breakers, Sites} x {HKCU, HKLM}
}

TEST(RegistrySource, TypeNames) {
  EXPECT_EQ(ipsec::registry_type_name(1), "REG_SZ");
  EXPECT_EQ(ipsec::registry_type_name(2), "REG_EXPAND_SZ");
  EXPECT_EQ(ipsec::registry_type_name(7), "REG_MULTI_SZ");
  EXPECT_EQ(ipsec::registry_type_name(11), "REG_QWORD");
  EXPECT_EQ(ipsec::registry_type_name(12), "type 12");
  EXPECT_EQ(ipsec::to_string(registry_hive::local_machine), "HKLM");
  EXPECT_EQ(ipsec::to_string(registry_hive::current_user), "HKCU");
}

#ifndef _WIN32
TEST(RegistrySource, OffWindowsTheSystemRegistryIsEmptyAndTheWatcherUnsupported) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_registry());
  EXPECT_EQ(sites.policy("qm.delete").value(),
            ipsec::builtin_policy(ipsec::agent_operation::remove));
  auto watcher = ipsec::group_policy_watcher::start([] {});
  ASSERT_FALSE(watcher);
  EXPECT_EQ(watcher.error(), std::errc::not_supported);
}
#endif

TEST(CallSiteSources, ANamedTextGivesFileAndLineInSourcesAndErrors) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.load_config("# limits\nqm.delete: timeout=60s\n", "/etc/ipsec_retry.conf"));
  EXPECT_EQ(described(sites, "qm.delete").sources,
            std::vector<std::string>{"/etc/ipsec_retry.conf:2"});
  auto loaded = sites.load_config("qm.add: timeout=1s\nqm.delete: timeout=5\n", "sites.conf");
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().line, 2u);
  EXPECT_EQ(loaded.error().message().rfind("sites.conf:2 (qm.delete): column 20: ", 0), 0u)
      << loaded.error().message();
  EXPECT_EQ(described(sites, "qm.add").sources, std::vector<std::string>{});  // nothing changed
}

TEST(CallSiteSources, ALineRestartsTheSourcesAVariableAddsOne) {
  ipsec::call_site_registry sites;
  auto env = [](const char* name) -> const char* {
    return std::string_view(name) == "IPSEC_RETRY_QM_DELETE" ? "attempts=3" : nullptr;
  };
  ASSERT_TRUE(sites.load_environment(env));
  ASSERT_TRUE(sites.load_config("qm.delete: timeout=60s"));
  EXPECT_EQ(described(sites, "qm.delete").sources, std::vector<std::string>{"line 1"});
  ASSERT_TRUE(sites.load_environment(env));
  EXPECT_EQ(described(sites, "qm.delete").sources,
            (std::vector<std::string>{"line 1", "IPSEC_RETRY_QM_DELETE"}));
}

TEST(CallSiteSources, UnreadVariablesAreTheMisspeltOnesWithASuggestion) {
  ipsec::call_site_registry sites;
  ASSERT_TRUE(sites.define_budget("agent", {}));
  const auto unread = sites.unread_variables(
      {"PATH", "IPSEC_RETRY_QM_DELETE", "IPSEC_RETRY_QM_DELET", "IPSEC_RETRY_BUDGET_AGNET",
       "IPSEC_RETRY_SOMETHING_ELSE_ENTIRELY", "IPSEC_RETRY_BUDGET_AGENT"});
  ASSERT_EQ(unread.size(), 3u);
  EXPECT_EQ(unread[0].variable, "IPSEC_RETRY_QM_DELET");
  EXPECT_EQ(unread[0].did_you_mean, "IPSEC_RETRY_QM_DELETE");
  EXPECT_EQ(unread[1].variable, "IPSEC_RETRY_BUDGET_AGNET");
  EXPECT_EQ(unread[1].did_you_mean, "IPSEC_RETRY_BUDGET_AGENT");
  EXPECT_EQ(unread[2].variable, "IPSEC_RETRY_SOMETHING_ELSE_ENTIRELY");
  EXPECT_EQ(unread[2].did_you_mean, "");
}
