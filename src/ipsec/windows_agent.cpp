// SPDX-License-Identifier: BSL-1.0
// The real Policy Agent through winipsec.dll, loaded at run time.
//
// winipsec.dll has no public header in current SDKs. The entry points declared below are the
// name-keyed ones this file calls, with the signatures of the Windows Server 2003 Platform SDK's
// winipsec.h (the IPsec SPD API), all `DWORD WINAPI`, e.g.
//   DeleteQMPolicy(LPWSTR pServerName, DWORD dwVersion, LPWSTR pszPolicyName, LPVOID pvReserved)
// Structures (IPSEC_QM_POLICY, IPSEC_MM_POLICY) stay opaque: callers pass the SDK's.
#include <ipsec_retry/ipsec/windows_agent.hpp>

#include <windows.h>

#include <cstring>
#include <optional>

namespace ipsec_retry::ipsec {
namespace {

using add_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, DWORD flags, void* policy,
                              LPVOID reserved);
using set_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, LPWSTR name, void* policy,
                              LPVOID reserved);
using delete_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, LPWSTR name, LPVOID reserved);
using get_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, LPWSTR name, DWORD flags, void** policy,
                              LPVOID reserved);
using delete_auth_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, GUID id, LPVOID reserved);
using free_fn = VOID(WINAPI*)(LPVOID buffer);

template <class F>
struct entry_point {
  const char* name;
  F function = nullptr;
};

template <class F>
void resolve(HMODULE module, entry_point<F>& e) {
  if (module == nullptr) return;
  // GetProcAddress returns FARPROC; the cast to the declared signature is the documented way.
  e.function = reinterpret_cast<F>(reinterpret_cast<void*>(::GetProcAddress(module, e.name)));
}

}  // namespace

struct windows_agent::exports {
  HMODULE module = nullptr;
  DWORD load_error = ERROR_SUCCESS;
  entry_point<add_fn> add_qm{"AddQMPolicy"}, add_mm{"AddMMPolicy"};
  entry_point<set_fn> set_qm{"SetQMPolicy"}, set_mm{"SetMMPolicy"};
  entry_point<delete_fn> delete_qm{"DeleteQMPolicy"}, delete_mm{"DeleteMMPolicy"};
  entry_point<get_fn> get_qm{"GetQMPolicy"}, get_mm{"GetMMPolicy"};
  entry_point<delete_auth_fn> delete_auth{"DeleteMMAuthMethods"};
  entry_point<free_fn> buffer_free{"SPDApiBufferFree"};
};

windows_agent::windows_agent(std::wstring server_name)
    : server_name_(std::move(server_name)), exports_(std::make_unique<exports>()) {
  exports& e = *exports_;
  // System32 only: never a winipsec.dll planted next to the program.
  e.module = ::LoadLibraryExW(L"winipsec.dll", nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (e.module == nullptr) {
    e.load_error = ::GetLastError();
    if (e.load_error == ERROR_SUCCESS) e.load_error = ERROR_MOD_NOT_FOUND;
    return;
  }
  resolve(e.module, e.add_qm);
  resolve(e.module, e.add_mm);
  resolve(e.module, e.set_qm);
  resolve(e.module, e.set_mm);
  resolve(e.module, e.delete_qm);
  resolve(e.module, e.delete_mm);
  resolve(e.module, e.get_qm);
  resolve(e.module, e.get_mm);
  resolve(e.module, e.delete_auth);
  resolve(e.module, e.buffer_free);
}

windows_agent::~windows_agent() {
  if (exports_ && exports_->module != nullptr) ::FreeLibrary(exports_->module);
}

win32_error windows_agent::load_result() const noexcept {
  return win32_error{static_cast<std::uint32_t>(exports_->load_error)};
}

std::string_view windows_agent::last_unavailable() const noexcept {
  const char* what = last_unavailable_.load(std::memory_order_acquire);
  return what == nullptr ? std::string_view{} : std::string_view{what};
}

namespace {

// Null-terminated, mutable copies: the API takes LPWSTR.
std::wstring terminated(std::wstring_view text) {
  return std::wstring(text);
}
LPWSTR server_arg(std::wstring& server) {
  return server.empty() ? nullptr : server.data();
}

// ERROR_MOD_NOT_FOUND when the DLL is not loaded, ERROR_PROC_NOT_FOUND when `e` is not
// exported (recording which in `last`); std::nullopt when `e` can be called.
template <class F>
std::optional<win32_error> unavailable(HMODULE module, const entry_point<F>& e,
                                       std::atomic<const char*>& last) {
  if (module == nullptr) {
    last.store("winipsec.dll", std::memory_order_release);
    return win32_error::mod_not_found;
  }
  if (e.function == nullptr) {
    last.store(e.name, std::memory_order_release);
    return win32_error::proc_not_found;
  }
  return std::nullopt;
}

}  // namespace

win32_error windows_agent::add_policy(policy_kind kind, std::wstring_view, native_policy policy) {
  const auto& entry = kind == policy_kind::quick_mode ? exports_->add_qm : exports_->add_mm;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (policy.sdk_struct == nullptr) return win32_error::invalid_parameter;
  std::wstring server = server_name_;
  return win32_error{
      entry.function(server_arg(server), 0, 0, const_cast<void*>(policy.sdk_struct), nullptr)};
}

win32_error windows_agent::set_policy(policy_kind kind, std::wstring_view name,
                                      native_policy policy) {
  const auto& entry = kind == policy_kind::quick_mode ? exports_->set_qm : exports_->set_mm;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (policy.sdk_struct == nullptr) return win32_error::invalid_parameter;
  std::wstring server = server_name_;
  std::wstring policy_name = terminated(name);
  return win32_error{entry.function(server_arg(server), 0, policy_name.data(),
                                    const_cast<void*>(policy.sdk_struct), nullptr)};
}

win32_error windows_agent::delete_policy(policy_kind kind, std::wstring_view name) {
  const auto& entry = kind == policy_kind::quick_mode ? exports_->delete_qm : exports_->delete_mm;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  std::wstring server = server_name_;
  std::wstring policy_name = terminated(name);
  return win32_error{entry.function(server_arg(server), 0, policy_name.data(), nullptr)};
}

win32_error windows_agent::get_policy(policy_kind kind, std::wstring_view name) {
  const auto& entry = kind == policy_kind::quick_mode ? exports_->get_qm : exports_->get_mm;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (auto failure = unavailable(exports_->module, exports_->buffer_free, last_unavailable_))
    return *failure;
  std::wstring server = server_name_;
  std::wstring policy_name = terminated(name);
  void* returned = nullptr;
  const DWORD code =
      entry.function(server_arg(server), 0, policy_name.data(), 0, &returned, nullptr);
  if (returned != nullptr) exports_->buffer_free.function(returned);
  return win32_error{code};
}

result<fetched_policy> windows_agent::fetch_policy(policy_kind kind, std::wstring_view name) {
  const auto& entry = kind == policy_kind::quick_mode ? exports_->get_qm : exports_->get_mm;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (auto failure = unavailable(exports_->module, exports_->buffer_free, last_unavailable_)) {
    return *failure;
  }
  std::wstring server = server_name_;
  std::wstring policy_name = terminated(name);
  void* returned = nullptr;
  const DWORD code =
      entry.function(server_arg(server), 0, policy_name.data(), 0, &returned, nullptr);
  fetched_policy owned(returned, exports_->buffer_free.function);
  if (code != ERROR_SUCCESS) return win32_error{static_cast<std::uint32_t>(code)};
  if (returned == nullptr) return win32_error::invalid_data;
  return owned;
}

win32_error windows_agent::delete_mm_auth_methods(const guid& id) {
  if (auto failure = unavailable(exports_->module, exports_->delete_auth, last_unavailable_))
    return *failure;
  static_assert(sizeof(guid) == sizeof(GUID), "guid must be layout-compatible with GUID");
  GUID native{};
  std::memcpy(&native, &id, sizeof native);
  std::wstring server = server_name_;
  return win32_error{exports_->delete_auth.function(server_arg(server), 0, native, nullptr)};
}

}  // namespace ipsec_retry::ipsec
