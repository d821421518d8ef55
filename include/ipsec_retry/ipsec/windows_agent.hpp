// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: the real Policy Agent, through winipsec.dll (Windows only).
//
// winipsec.dll is loaded at run time (LoadLibraryExW from System32, then GetProcAddress), so a
// host program that links ipsec_retry always starts, even where the DLL or an export is
// missing. Such a call fails with a permanent code instead: ERROR_MOD_NOT_FOUND (126) when the
// DLL cannot be loaded, ERROR_PROC_NOT_FOUND (127) when the function is not exported; and
// last_unavailable() names the DLL or the function.
//
// Every call passes dwVersion 0 and pvReserved NULL; Add passes dwFlags 0 (not persisted).
// Add and Set need the SDK's IPSEC_QM_POLICY / IPSEC_MM_POLICY structure (native_policy);
// without one they return ERROR_INVALID_PARAMETER without calling the agent. Anything else
// (filters, WFP) is wrapped with the generic ipsec_retry::retry().
#pragma once

#ifdef _WIN32

#include <ipsec_retry/ipsec/policy_agent.hpp>

#include <atomic>
#include <memory>
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
  native_policy get() const noexcept { return native_policy{buffer_}; }

 private:
  void* buffer_;
  free_function free_;
};

class windows_agent final : public policy_agent {
 public:
  /// `server_name`: the machine whose Policy Agent to call (pServerName); empty = this one.
  explicit windows_agent(std::wstring server_name = {});
  ~windows_agent() override;
  windows_agent(const windows_agent&) = delete;
  windows_agent& operator=(const windows_agent&) = delete;

  /// ERROR_SUCCESS when winipsec.dll was loaded, else the loader's code (usually 126).
  win32_error load_result() const noexcept;
  /// The DLL or function behind the last ERROR_MOD_NOT_FOUND / ERROR_PROC_NOT_FOUND this agent
  /// returned, e.g. "winipsec.dll" or "DeleteQMPolicy"; empty if none. Thread-safe.
  std::string_view last_unavailable() const noexcept;

  win32_error add_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
  win32_error set_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
  win32_error delete_policy(policy_kind kind, std::wstring_view name) override;
  win32_error get_policy(policy_kind kind, std::wstring_view name) override;
  win32_error delete_mm_auth_methods(const guid& id) override;

  /// GetQMPolicy / GetMMPolicy, keeping the structure the agent returns.
  result<fetched_policy> fetch_policy(policy_kind kind, std::wstring_view name);

 private:
  struct exports;
  std::wstring server_name_;
  std::unique_ptr<exports> exports_;
  std::atomic<const char*> last_unavailable_{nullptr};
};

}  // namespace ipsec_retry::ipsec

#endif  // _WIN32
