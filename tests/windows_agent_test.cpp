// SPDX-License-Identifier: BSL-1.0
// The real agent's run-time loading, on Windows (CI runs it under Wine, which has no
// winipsec.dll): a missing DLL is a clear permanent error, never a failure of the host program.
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/windows_agent.hpp>

#include <gtest/gtest.h>

#include "windows_agent_calls.hpp"

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;

namespace {
// The test's own premise: this Windows (Wine) has no winipsec.dll in System32.
bool winipsec_missing() {
  ipsec::windows_agent probe;
  return probe.load_result() == ir::win32_error::mod_not_found;
}
}  // namespace

TEST(WindowsAgent, MissingDllIsModNotFoundNamingTheDll) {
  ASSERT_TRUE(winipsec_missing()) << "this test expects a machine without winipsec.dll (Wine)";
  ipsec::windows_agent agent;
  EXPECT_TRUE(agent.last_unavailable().empty()) << "nothing was called yet";
  EXPECT_EQ(agent.delete_policy(ipsec::policy_kind::quick_mode, L"corp-qm"),
            ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.last_unavailable(), "winipsec.dll");
  EXPECT_EQ(agent.add_policy(ipsec::policy_kind::main_mode, L"mm", {}),
            ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.set_policy(ipsec::policy_kind::quick_mode, L"qm", {}),
            ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.get_policy(ipsec::policy_kind::quick_mode, L"qm"),
            ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.delete_mm_auth_methods(ipsec::guid{}), ir::win32_error::mod_not_found);
  const auto fetched = agent.fetch_policy(ipsec::policy_kind::quick_mode, L"qm");
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error(), ir::win32_error::mod_not_found);
}

// Every call, one per export (windows_agent_calls.hpp): 126 naming the DLL, whichever export.
TEST(WindowsAgent, EveryCallIsModNotFoundNamingTheDll) {
  ASSERT_TRUE(winipsec_missing());
  ipsec::windows_agent agent;
  for (const auto& c : windows_agent_test::export_calls()) {
    EXPECT_EQ(c.call(agent), ir::win32_error::mod_not_found) << c.export_name;
    EXPECT_EQ(agent.last_unavailable(), "winipsec.dll") << c.export_name;
  }
}

// The missing DLL is reported before the arguments are checked: it is what to fix first.
TEST(WindowsAgent, AMissingDllComesBeforeAMissingStructureOrHandle) {
  ASSERT_TRUE(winipsec_missing());
  ipsec::windows_agent agent;
  ipsec::agent_handle handle{0x99};
  EXPECT_EQ(agent.add_mm_auth_methods(ipsec::guid{}, {}), ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.set_mm_auth_methods(ipsec::guid{}, {}), ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.add_filter({}, handle), ir::win32_error::mod_not_found);
  EXPECT_FALSE(handle) << "a failed Add leaves no handle";
  handle = ipsec::agent_handle{0x99};
  EXPECT_EQ(agent.open_filter(windows_agent_test::filter_of(ipsec::filter_kind::main_mode, nullptr),
                              handle),
            ir::win32_error::mod_not_found);
  EXPECT_FALSE(handle);
  EXPECT_EQ(agent.set_filter(ipsec::filter_kind::tunnel, {}, {}), ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.delete_filter(ipsec::filter_kind::tunnel, {}), ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.close_filter(ipsec::filter_kind::main_mode, {}), ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.last_unavailable(), "winipsec.dll");
}

TEST(WindowsAgent, TypedOperationsStopAtOnceOnAMissingDll) {
  ASSERT_TRUE(winipsec_missing());
  ipsec::windows_agent agent(L"remote-server");
  ir::virtual_time vt;
  const auto r = ipsec::delete_qm_policy(
      agent, L"corp-qm", ipsec::builtin_policy(ipsec::policy_operation::remove),
      ir::retry_options{.clock = vt.clock(), .sleeper = vt.sleeper()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(r.error().calls, 1u) << "a missing DLL is permanent: never retried";
  EXPECT_EQ(r.error().code, ir::win32_error::mod_not_found);
  EXPECT_NE(r.error().message().find("ERROR_MOD_NOT_FOUND (126)"), std::string::npos)
      << r.error().message();
}

TEST(WindowsAgent, ManyAgentsLoadAndUnloadCleanly) {
  for (int i = 0; i < 50; ++i) {
    ipsec::windows_agent agent;
    EXPECT_EQ(agent.get_policy(ipsec::policy_kind::main_mode, L"x"),
              ir::win32_error::mod_not_found);
  }
  SUCCEED() << "the host process is still running";
}
