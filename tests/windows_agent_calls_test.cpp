// SPDX-License-Identifier: BSL-1.0
// windows_agent against stand-in winipsec.dlls (tests/winipsec_stand_in/), under Wine or
// Windows: every export is resolved and called with the arguments winipsec.h declares, a DLL
// lacking any one export gives ERROR_PROC_NOT_FOUND naming it, and the checks made before a
// call (no SDK structure, no handle) never reach the DLL. What this cannot show is how the real
// Policy Agent answers; the stand-in only records.
#include <ipsec_retry/ipsec/windows_agent.hpp>

#include <gtest/gtest.h>
#include <windows.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>

#include "windows_agent_calls.hpp"
#include "winipsec_stand_in/stand_in.hpp"

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using ipsec::filter_kind;
using ipsec::policy_kind;
using windows_agent_test::auth_id;
using windows_agent_test::auth_struct;
using windows_agent_test::export_calls;
using windows_agent_test::filter_of;
using windows_agent_test::filter_struct;
using windows_agent_test::qm_struct;

namespace {

// A file next to this test program (where tests/winipsec_stand_in/stand_in.cmake puts the DLLs).
std::wstring beside_test(std::wstring_view file) {
  wchar_t buffer[MAX_PATH];
  const DWORD length = ::GetModuleFileNameW(nullptr, buffer, MAX_PATH);
  std::wstring path(buffer, length);
  path.resize(path.find_last_of(L"\\/") + 1);
  return path.append(file);
}

std::wstring without_dll(std::string_view export_name) {
  std::wstring file = L"winipsec_without_";
  file.append(export_name.begin(), export_name.end());  // export names are ASCII
  return beside_test(file + L".dll");
}

// The stand-in an agent loaded: the same module, one more reference, to read its record.
class stand_in {
 public:
  explicit stand_in(const std::wstring& path) : module_(::LoadLibraryW(path.c_str())) {}
  ~stand_in() {
    if (module_ != nullptr) ::FreeLibrary(module_);
  }
  stand_in(const stand_in&) = delete;
  stand_in& operator=(const stand_in&) = delete;

  bool loaded() const { return module_ != nullptr; }
  const stand_in_call& last() const {
    auto f = reinterpret_cast<stand_in_last_call_fn>(
        reinterpret_cast<void*>(::GetProcAddress(module_, "StandInLastCall")));
    return *f();
  }
  void script(ir::win32_error code) const {
    auto f = reinterpret_cast<stand_in_script_fn>(
        reinterpret_cast<void*>(::GetProcAddress(module_, "StandInScript")));
    f(ir::to_underlying(code));
  }

 private:
  HMODULE module_;
};

}  // namespace

TEST(WindowsAgentCalls, TheTableCoversEveryEntryPoint) {
  std::set<std::string_view> loaded(ipsec::windows_agent::entry_points().begin(),
                                    ipsec::windows_agent::entry_points().end());
  EXPECT_EQ(loaded.size(), ipsec::windows_agent::entry_points().size()) << "no duplicates";
  std::set<std::string_view> called;
  for (const auto& c : export_calls()) called.insert(c.export_name);
  EXPECT_EQ(called, loaded);
}

TEST(WindowsAgentCalls, EveryExportIsResolvedAndReachedThroughItsCall) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"");
  ASSERT_EQ(agent.load_result(), ir::win32_error::success);
  const stand_in dll(path);
  const unsigned before = dll.last().calls;
  for (const auto& c : export_calls()) {
    if (c.export_name == "SPDApiBufferFree") continue;  // reached by Get, checked below
    EXPECT_EQ(c.call(agent), ir::win32_error::success) << c.export_name;
    EXPECT_EQ(std::string_view(dll.last().function), c.export_name);
    EXPECT_EQ(dll.last().version, 0u) << c.export_name << ": dwVersion 0, the current API";
    EXPECT_EQ(dll.last().reserved, nullptr) << c.export_name << ": pvReserved NULL";
  }
  EXPECT_EQ(dll.last().calls - before, 26u) << "one call each";
  EXPECT_TRUE(agent.last_unavailable().empty());
}

// Table-driven over windows_agent::entry_points(): for each, a DLL with all the others.
TEST(WindowsAgentCalls, EachMissingExportIsProcNotFoundNamingIt) {
  for (const std::string_view name : ipsec::windows_agent::entry_points()) {
    SCOPED_TRACE(std::string(name));
    ipsec::windows_agent agent(ipsec::windows_agent::dll_path{without_dll(name)}, L"");
    ASSERT_EQ(agent.load_result(), ir::win32_error::success)
        << "a missing export is not a load failure (is winipsec_without_" << name << ".dll built?)";
    const stand_in dll(without_dll(name));
    const auto c = std::find_if(export_calls().begin(), export_calls().end(),
                                [&](const auto& e) { return e.export_name == name; });
    ASSERT_NE(c, export_calls().end());
    EXPECT_EQ(c->call(agent), ir::win32_error::proc_not_found);
    EXPECT_EQ(agent.last_unavailable(), name);
    EXPECT_EQ(dll.last().calls, 0u) << "nothing was called";
    // The other exports still work.
    EXPECT_EQ(agent.delete_mm_auth_methods(auth_id), name == "DeleteMMAuthMethods"
                                                         ? ir::win32_error::proc_not_found
                                                         : ir::win32_error::success);
  }
}

TEST(WindowsAgentCalls, AStandInThatCannotBeLoadedIsModNotFoundNamingWinipsec) {
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{beside_test(L"no_such.dll")}, L"");
  EXPECT_EQ(agent.load_result(), ir::win32_error::mod_not_found);
  ipsec::agent_handle out;
  EXPECT_EQ(agent.add_filter(filter_of(filter_kind::tunnel), out), ir::win32_error::mod_not_found);
  EXPECT_EQ(agent.last_unavailable(), "winipsec.dll");
}

TEST(WindowsAgentCalls, AddPassesTheCallersDwFlagsAndTheServerName) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"remote-server");
  const stand_in dll(path);
  EXPECT_EQ(agent.add_policy(policy_kind::quick_mode, L"qm",
                             {.sdk_struct = &qm_struct, .flags = ipsec::persist_spd_object}),
            ir::win32_error::success);
  EXPECT_EQ(dll.last().flags, 1u) << "PERSIST_SPD_OBJECT";
  EXPECT_EQ(dll.last().object, &qm_struct);
  EXPECT_FALSE(dll.last().server_is_null);
  EXPECT_EQ(std::wstring_view(dll.last().server), L"remote-server");

  EXPECT_EQ(agent.add_mm_auth_methods(auth_id, {.sdk_struct = &auth_struct}),
            ir::win32_error::success);
  EXPECT_EQ(dll.last().flags, 0u) << "the default: in memory only";
  EXPECT_EQ(dll.last().object, &auth_struct);

  ipsec::native_filter persisted = filter_of(filter_kind::main_mode);
  persisted.flags = ipsec::persist_spd_object;
  ipsec::agent_handle out;
  EXPECT_EQ(agent.add_filter(persisted, out), ir::win32_error::success);
  EXPECT_EQ(std::string_view(dll.last().function), "AddMMFilter");
  EXPECT_EQ(dll.last().flags, 1u);
  EXPECT_EQ(dll.last().object, &filter_struct);
}

TEST(WindowsAgentCalls, ThisMachineIsANullServerName) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"");
  const stand_in dll(path);
  EXPECT_EQ(agent.delete_policy(policy_kind::main_mode, L"corp-mm"), ir::win32_error::success);
  EXPECT_TRUE(dll.last().server_is_null);
  EXPECT_EQ(std::wstring_view(dll.last().name), L"corp-mm");
}

TEST(WindowsAgentCalls, MmAuthMethodsAreKeyedByTheGuidPassedByValue) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"");
  const stand_in dll(path);
  EXPECT_EQ(agent.set_mm_auth_methods(auth_id, {.sdk_struct = &auth_struct}),
            ir::win32_error::success);
  EXPECT_EQ(dll.last().id.Data1, 0x12345678u);
  EXPECT_EQ(dll.last().id.Data2, 0x9abc);
  EXPECT_EQ(dll.last().id.Data3, 0xdef0);
  EXPECT_EQ(dll.last().id.Data4[7], 8);
  EXPECT_EQ(dll.last().object, &auth_struct);
  EXPECT_EQ(agent.delete_mm_auth_methods(auth_id), ir::win32_error::success);
  EXPECT_EQ(dll.last().id.Data1, 0x12345678u);
}

// Regression: GetMMPolicy was called with GetQMPolicy's signature (a dwFlags before the out
// pointer), so the DLL would have read the flags as ppMMPolicy.
TEST(WindowsAgentCalls, GetMmPolicyIsCalledWithoutGetQmPolicysDwFlags) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"");
  const stand_in dll(path);
  EXPECT_EQ(agent.get_policy(policy_kind::main_mode, L"corp-mm"), ir::win32_error::success);
  EXPECT_EQ(std::string_view(dll.last().function), "GetMMPolicy");
  EXPECT_EQ(std::wstring_view(dll.last().name), L"corp-mm");
  EXPECT_EQ(dll.last().reserved, nullptr);
  EXPECT_NE(dll.last().freed, nullptr) << "the returned structure was freed";
  {
    auto fetched = agent.fetch_policy(policy_kind::main_mode, L"corp-mm");
    ASSERT_TRUE(fetched) << fetched.error().message();
    EXPECT_NE(fetched.value().get().sdk_struct, nullptr);
  }
  EXPECT_EQ(dll.last().reserved, nullptr);
}

TEST(WindowsAgentCalls, FilterHandlesGoFromAddAndOpenBackToSetDeleteAndClose) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"");
  const stand_in dll(path);
  for (const filter_kind kind :
       {filter_kind::transport, filter_kind::tunnel, filter_kind::main_mode}) {
    SCOPED_TRACE(std::string(ipsec::to_string(kind)));
    ipsec::agent_handle added, opened;
    ASSERT_EQ(agent.add_filter(filter_of(kind), added), ir::win32_error::success);
    EXPECT_TRUE(added);
    EXPECT_EQ(added.value, reinterpret_cast<std::uintptr_t>(dll.last().handle));
    ASSERT_EQ(agent.open_filter(filter_of(kind), opened), ir::win32_error::success);
    EXPECT_TRUE(opened);
    EXPECT_NE(opened, added) << "Open returns another handle";

    EXPECT_EQ(agent.set_filter(kind, opened, filter_of(kind)), ir::win32_error::success);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(dll.last().handle), opened.value);
    EXPECT_EQ(dll.last().object, &filter_struct);
    EXPECT_EQ(agent.delete_filter(kind, added), ir::win32_error::success);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(dll.last().handle), added.value);
    EXPECT_EQ(agent.close_filter(kind, opened), ir::win32_error::success);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(dll.last().handle), opened.value);
  }
}

TEST(WindowsAgentCalls, AFailedAddOrOpenLeavesTheHandleEmptyAndPassesTheCodeThrough) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"");
  const stand_in dll(path);
  dll.script(ir::win32_error::ipsec_transport_filter_pending_deletion);
  ipsec::agent_handle handle{0x99};
  EXPECT_EQ(agent.add_filter(filter_of(filter_kind::transport), handle),
            ir::win32_error::ipsec_transport_filter_pending_deletion);
  EXPECT_NE(dll.last().handle, nullptr) << "the stand-in wrote a handle anyway";
  EXPECT_FALSE(handle) << "only a successful Add's handle is kept";
  handle = ipsec::agent_handle{0x99};
  EXPECT_EQ(agent.open_filter(filter_of(filter_kind::transport), handle),
            ir::win32_error::ipsec_transport_filter_pending_deletion);
  EXPECT_FALSE(handle);
  dll.script(ir::win32_error::success);
}

TEST(WindowsAgentCalls, NoSdkStructureIsInvalidParameterWithoutACall) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"");
  const stand_in dll(path);
  const unsigned before = dll.last().calls;
  const auto invalid = ir::win32_error::invalid_parameter;
  EXPECT_EQ(agent.add_policy(policy_kind::quick_mode, L"qm", {}), invalid);
  EXPECT_EQ(agent.set_policy(policy_kind::main_mode, L"mm", {}), invalid);
  EXPECT_EQ(agent.add_mm_auth_methods(auth_id, {}), invalid);
  EXPECT_EQ(agent.set_mm_auth_methods(auth_id, {}), invalid);
  for (const filter_kind kind :
       {filter_kind::transport, filter_kind::tunnel, filter_kind::main_mode}) {
    SCOPED_TRACE(std::string(ipsec::to_string(kind)));
    ipsec::agent_handle out{0x99};
    EXPECT_EQ(agent.add_filter(filter_of(kind, nullptr), out), invalid);
    EXPECT_FALSE(out);
    out = ipsec::agent_handle{0x99};
    EXPECT_EQ(agent.open_filter(filter_of(kind, nullptr), out), invalid);
    EXPECT_FALSE(out);
    EXPECT_EQ(agent.set_filter(kind, ipsec::agent_handle{0x77}, filter_of(kind, nullptr)), invalid);
  }
  // A filter structure of another kind than the Set it is passed to.
  EXPECT_EQ(agent.set_filter(filter_kind::transport, ipsec::agent_handle{0x77},
                             filter_of(filter_kind::tunnel)),
            invalid);
  EXPECT_EQ(dll.last().calls, before) << "nothing reached the DLL";
}

TEST(WindowsAgentCalls, NoHandleIsInvalidHandleWithoutACall) {
  const std::wstring path = beside_test(L"winipsec_stand_in.dll");
  ipsec::windows_agent agent(ipsec::windows_agent::dll_path{path}, L"");
  const stand_in dll(path);
  const unsigned before = dll.last().calls;
  for (const filter_kind kind :
       {filter_kind::transport, filter_kind::tunnel, filter_kind::main_mode}) {
    SCOPED_TRACE(std::string(ipsec::to_string(kind)));
    EXPECT_EQ(agent.set_filter(kind, {}, filter_of(kind)), ir::win32_error::invalid_handle);
    EXPECT_EQ(agent.delete_filter(kind, {}), ir::win32_error::invalid_handle);
    EXPECT_EQ(agent.close_filter(kind, {}), ir::win32_error::invalid_handle);
  }
  EXPECT_EQ(dll.last().calls, before) << "nothing reached the DLL";
}
