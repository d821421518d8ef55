// SPDX-License-Identifier: BSL-1.0
// The registry source against the real registry (Windows builds only; CI runs it under Wine):
// values written with RegSetValueExW under HKCU and HKLM SOFTWARE\Policies\ipsec_retry are
// read back by system_registry() with HKLM winning, a REG_DWORD is an error naming the value,
// non-ASCII names come back as UTF-8, and group_policy_watcher reports a change. The test owns
// the two ipsec_retry keys while it runs (ctest's RESOURCE_LOCK ipsec_retry_policies_key) and
// deletes them before and after.
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/operation_types.hpp>
#include <ipsec_retry/ipsec/registry_source.hpp>

#include <gtest/gtest.h>

#include <windows.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;

namespace {

constexpr const wchar_t* policies_key = L"SOFTWARE\\Policies\\ipsec_retry";

void delete_policies_keys() {
  for (HKEY root : {HKEY_LOCAL_MACHINE, HKEY_CURRENT_USER}) {
    const LSTATUS status = RegDeleteTreeW(root, policies_key);
    ASSERT_TRUE(status == ERROR_SUCCESS || status == ERROR_FILE_NOT_FOUND) << status;
  }
}

void set_value(HKEY root, const std::wstring& subkey, const std::wstring& name, const void* data,
               DWORD size, DWORD type) {
  HKEY key = nullptr;
  const std::wstring path = std::wstring(policies_key) + L"\\" + subkey;
  ASSERT_EQ(RegCreateKeyExW(root, path.c_str(), 0, nullptr, 0, KEY_SET_VALUE | KEY_WOW64_64KEY,
                            nullptr, &key, nullptr),
            ERROR_SUCCESS);
  const LSTATUS status =
      RegSetValueExW(key, name.c_str(), 0, type, static_cast<const BYTE*>(data), size);
  RegCloseKey(key);
  ASSERT_EQ(status, ERROR_SUCCESS);
}

void set_text(HKEY root, const std::wstring& subkey, const std::wstring& name,
              const std::wstring& text) {
  set_value(root, subkey, name, text.c_str(),
            static_cast<DWORD>((text.size() + 1) * sizeof(wchar_t)), REG_SZ);
}

class WindowsRegistry : public ::testing::Test {
 protected:
  void SetUp() override { delete_policies_keys(); }
  void TearDown() override { delete_policies_keys(); }
};

TEST_F(WindowsRegistry, TheMachinesPolicyWinsOverTheUsersReadFromTheRealRegistry) {
  set_text(HKEY_CURRENT_USER, L"Sites", L"qm.delete", L"timeout=40s, attempts=7");
  set_text(HKEY_LOCAL_MACHINE, L"Sites", L"qm.delete", L"timeout=90s");
  set_text(HKEY_LOCAL_MACHINE, L"Budgets", L"agent", L"max_tokens=20");
  set_text(HKEY_LOCAL_MACHINE, L"Sites", L"qm.add", L"budget=agent");
  set_text(HKEY_LOCAL_MACHINE, L"Sites", L"caf\u00e9.delete", L"timeout=1s");  // no such site

  ipsec::call_site_registry sites;
  std::vector<std::string> skipped;
  const auto loaded = sites.load_registry(&skipped);
  ASSERT_TRUE(loaded) << loaded.error().message();

  const auto qm_delete = sites.policy("qm.delete").value().settings();
  EXPECT_EQ(*qm_delete.timeout, 90s);  // HKLM's
  EXPECT_EQ(qm_delete.attempts, 7u);   // HKCU's, which HKLM's line leaves alone
  for (const auto& site : sites.describe_sites()) {
    if (site.name == "qm.delete") {
      EXPECT_EQ(site.sources, (std::vector<std::string>{
                                  "HKCU\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete",
                                  "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete"}));
    }
    if (site.name == "qm.add") {
      EXPECT_EQ(site.budget, "agent");
    }
  }
  const auto budgets = sites.describe_budgets();
  ASSERT_EQ(budgets.size(), 1u);
  EXPECT_EQ(budgets[0].settings, "max_tokens=20, token_ratio=0.1");
  EXPECT_EQ(skipped, std::vector<std::string>{
                         "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\caf\xc3\xa9.delete"});
}

TEST_F(WindowsRegistry, AValueThatIsNotRegSzIsAnErrorNamingItAndChangesNothing) {
  set_text(HKEY_LOCAL_MACHINE, L"Sites", L"qm.add", L"timeout=5s");
  const DWORD ninety = 90;
  set_value(HKEY_LOCAL_MACHINE, L"Sites", L"qm.delete", &ninety, sizeof ninety, REG_DWORD);

  ipsec::call_site_registry sites;
  const auto loaded = sites.load_registry();
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ipsec::registry_errc::bad_value_type);
  EXPECT_EQ(loaded.error().source, "HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete");
  EXPECT_NE(loaded.error().message().find("REG_DWORD"), std::string::npos)
      << loaded.error().message();
  EXPECT_EQ(sites.policy("qm.add").value(), ipsec::builtin_policy(ipsec::agent_operation::add));
}

TEST_F(WindowsRegistry, TheWatcherReportsAValueWrittenAfterItStartedAndReloadReadsIt) {
  std::mutex mutex;
  std::condition_variable changed;
  int changes = 0;
  auto watcher = ipsec::group_policy_watcher::start([&] {
    const std::lock_guard lock(mutex);
    ++changes;
    changed.notify_all();
  });
  ASSERT_TRUE(watcher) << watcher.error().message();

  set_text(HKEY_LOCAL_MACHINE, L"Sites", L"qm.delete", L"timeout=90s");
  {
    std::unique_lock lock(mutex);
    // Bounded: the notification normally comes within milliseconds.
    ASSERT_TRUE(changed.wait_for(lock, 10s, [&] { return changes > 0; }));
  }
  ipsec::call_site_registry sites;
  ipsec::call_site_registry::configuration_sources from;
  from.registry = ipsec::system_registry();
  ASSERT_TRUE(sites.reload(from));
  EXPECT_EQ(*sites.policy("qm.delete").value().settings().timeout, 90s);
  watcher.value().reset();  // stops and joins while `changes` is alive
}

}  // namespace
