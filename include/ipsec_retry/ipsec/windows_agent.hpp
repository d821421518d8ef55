// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: the real Policy Agent, through winipsec.dll (Windows only).
//
// winipsec.dll is loaded at run time (LoadLibraryExW from System32, then GetProcAddress), so a
// host program that links ipsec_retry always starts, even where the DLL or an export is
// missing. Such a call fails with a permanent code instead: ERROR_MOD_NOT_FOUND (126) when the
// DLL cannot be loaded, ERROR_PROC_NOT_FOUND (127) when the function is not exported; and
// last_unavailable() names the DLL or the function; entry_points() lists the exports used.
//
// Every call passes dwVersion 0 and pvReserved NULL (the Windows Server 2003 API; XP's
// winipsec.dll has other signatures and is not supported). Add passes the `flags` of its
// argument as dwFlags: 0 (the default) keeps the object in memory only, persist_spd_object
// keeps it across Policy Agent restarts. Checked before calling, in this order:
//   1. the DLL and the export are there (126 / 127, as above);
//   2. Add, Set and Open have an SDK structure (native_policy, native_auth_methods,
//      native_filter), else ERROR_INVALID_PARAMETER; a filter's `kind` must be the kind the
//      call is for (set_filter), else ERROR_INVALID_PARAMETER too: a TUNNEL_FILTER passed to
//      SetTransportFilter would be read as the wrong structure;
//   3. Set, Delete and Close of a filter have a handle, else ERROR_INVALID_HANDLE (winipsec.dll
//      itself answers a NULL handle with ERROR_INVALID_PARAMETER).
// add_filter and open_filter leave `handle` empty unless they succeed. Anything else (WFP) is
// wrapped with the generic ipsec_retry::retry().
//
// Only compiled with MinGW-w64 and run under Wine, against stand-in DLLs (tests/); never run
// against a real winipsec.dll (docs/windows.md says what that leaves unverified).
#pragma once

#ifdef _WIN32

#include <ipsec_retry/ipsec/policy_agent.hpp>

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ipsec_retry::ipsec {

/// A policy structure returned by GetQMPolicy / GetMMPolicy, owned: freed with
/// SPDApiBufferFree. Pass get() to Add or Set (e.g. to re-create a policy after deleting it).
class fetched_policy {
 public:
  using free_function = void(__stdcall*)(void*);
  fetched_policy(void* buffer, free_function free) noexcept : buffer_(buffer), free_(free) {}
  fetched_policy(fetched_policy&& other) noexcept
      : buffer_(std::exchange(other.buffer_, nullptr)), free_(other.free_) {}
  fetched_policy& operator=(fetched_policy&&) = delete;
  fetched_policy(const fetched_policy&) = delete;
  ~fetched_policy() {
    if (buffer_ != nullptr) free_(buffer_);
  }
  native_policy get() const noexcept { return native_policy{.sdk_struct = buffer_}; }

 private:
  void* buffer_;
  free_function free_;
};

class windows_agent final : public policy_agent {
 public:
  /// `server_name`: the machine whose Policy Agent to call (pServerName); empty = this one.
  explicit windows_agent(std::wstring server_name = {});

  /// A DLL to load in place of System32's winipsec.dll: a full path.
  struct dll_path {
    std::wstring path;
  };
  /// Test seam: loads `dll` (LoadLibraryExW, the path as given) instead of winipsec.dll, so the
  /// tests can check the calls against a stand-in that exports some or all entry points. Not
  /// for production use: a real agent is only ever System32's winipsec.dll. A `dll` that
  /// cannot be loaded is reported as winipsec.dll would be (126, "winipsec.dll").
  windows_agent(dll_path dll, std::wstring server_name);
  ~windows_agent() override;
  windows_agent(const windows_agent&) = delete;
  windows_agent& operator=(const windows_agent&) = delete;

  /// ERROR_SUCCESS when winipsec.dll was loaded, else the loader's code (usually 126).
  win32_error load_result() const noexcept;
  /// The DLL or function behind the last ERROR_MOD_NOT_FOUND / ERROR_PROC_NOT_FOUND this agent
  /// returned, e.g. "winipsec.dll" or "DeleteQMPolicy"; empty if none. Thread-safe.
  std::string_view last_unavailable() const noexcept;
  /// The winipsec.dll exports this agent resolves, e.g. "AddQMPolicy", in load order.
  static std::span<const std::string_view> entry_points() noexcept;

  win32_error add_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
  win32_error set_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
  win32_error delete_policy(policy_kind kind, std::wstring_view name) override;
  win32_error get_policy(policy_kind kind, std::wstring_view name) override;
  win32_error add_mm_auth_methods(const guid& id, native_auth_methods methods) override;
  win32_error set_mm_auth_methods(const guid& id, native_auth_methods methods) override;
  win32_error delete_mm_auth_methods(const guid& id) override;

  win32_error add_filter(const native_filter& filter, agent_handle& handle) override;
  win32_error open_filter(const native_filter& filter, agent_handle& handle) override;
  win32_error set_filter(filter_kind kind, agent_handle handle,
                         const native_filter& filter) override;
  win32_error delete_filter(filter_kind kind, agent_handle handle) override;
  win32_error close_filter(filter_kind kind, agent_handle handle) override;

  /// GetQMPolicy / GetMMPolicy, keeping the structure the agent returns.
  result<fetched_policy> fetch_policy(policy_kind kind, std::wstring_view name);

 private:
  struct exports;  // src/ipsec/winipsec_exports.hpp
  void load(const wchar_t* path, unsigned long flags);
  std::wstring server_name_;
  std::unique_ptr<exports> exports_;
  std::atomic<const char*> last_unavailable_{nullptr};
};

}  // namespace ipsec_retry::ipsec

#endif  // _WIN32
