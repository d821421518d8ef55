// SPDX-License-Identifier: BSL-1.0
// The real Policy Agent through winipsec.dll, loaded at run time: loading, policies and MM auth
// methods. Filters are in windows_agent_filters.cpp; the entry points and where their
// signatures come from in winipsec_exports.hpp.
#include "ipsec/winipsec_exports.hpp"

namespace ipsec_retry::ipsec {

using detail::server_arg;
using detail::to_code;
using detail::unavailable;

namespace {

constexpr std::string_view entry_point_names[] = {
#define IPSEC_RETRY_EXPORT_NAME(member, export_name, signature) #export_name,
    IPSEC_RETRY_WINIPSEC_EXPORTS(IPSEC_RETRY_EXPORT_NAME)
#undef IPSEC_RETRY_EXPORT_NAME
};

template <class F>
void resolve(HMODULE module, detail::entry_point<F>& e) {
  // GetProcAddress returns FARPROC; the cast to the declared signature is the documented way.
  e.function = reinterpret_cast<F>(reinterpret_cast<void*>(::GetProcAddress(module, e.name)));
}

// A null-terminated, mutable copy: the API takes LPWSTR.
std::wstring terminated(std::wstring_view text) {
  return std::wstring(text);
}

}  // namespace

windows_agent::windows_agent(std::wstring server_name)
    : server_name_(std::move(server_name)), exports_(std::make_unique<exports>()) {
  // System32 only: never a winipsec.dll planted next to the program.
  load(L"winipsec.dll", LOAD_LIBRARY_SEARCH_SYSTEM32);
}

windows_agent::windows_agent(dll_path dll, std::wstring server_name)
    : server_name_(std::move(server_name)), exports_(std::make_unique<exports>()) {
  load(dll.path.c_str(), 0);
}

void windows_agent::load(const wchar_t* path, unsigned long flags) {
  exports& e = *exports_;
  e.module = ::LoadLibraryExW(path, nullptr, flags);
  if (e.module == nullptr) {
    e.load_error = ::GetLastError();
    if (e.load_error == ERROR_SUCCESS) e.load_error = ERROR_MOD_NOT_FOUND;
    return;
  }
#define IPSEC_RETRY_RESOLVE_EXPORT(member, export_name, signature) resolve(e.module, e.member);
  IPSEC_RETRY_WINIPSEC_EXPORTS(IPSEC_RETRY_RESOLVE_EXPORT)
#undef IPSEC_RETRY_RESOLVE_EXPORT
}

windows_agent::~windows_agent() {
  if (exports_ && exports_->module != nullptr) ::FreeLibrary(exports_->module);
}

win32_error windows_agent::load_result() const noexcept {
  return to_code(exports_->load_error);
}

std::string_view windows_agent::last_unavailable() const noexcept {
  const char* what = last_unavailable_.load(std::memory_order_acquire);
  return what == nullptr ? std::string_view{} : std::string_view{what};
}

std::span<const std::string_view> windows_agent::entry_points() noexcept {
  return entry_point_names;
}

win32_error windows_agent::add_policy(policy_kind kind, std::wstring_view, native_policy policy) {
  const auto& entry =
      kind == policy_kind::quick_mode ? exports_->add_qm_policy : exports_->add_mm_policy;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (policy.sdk_struct == nullptr) return win32_error::invalid_parameter;
  return to_code(entry.function(server_arg(server_name_), 0, policy.flags,
                                detail::sdk_arg(policy.sdk_struct), nullptr));
}

win32_error windows_agent::set_policy(policy_kind kind, std::wstring_view name,
                                      native_policy policy) {
  const auto& entry =
      kind == policy_kind::quick_mode ? exports_->set_qm_policy : exports_->set_mm_policy;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (policy.sdk_struct == nullptr) return win32_error::invalid_parameter;
  std::wstring policy_name = terminated(name);
  return to_code(entry.function(server_arg(server_name_), 0, policy_name.data(),
                                detail::sdk_arg(policy.sdk_struct), nullptr));
}

win32_error windows_agent::delete_policy(policy_kind kind, std::wstring_view name) {
  const auto& entry =
      kind == policy_kind::quick_mode ? exports_->delete_qm_policy : exports_->delete_mm_policy;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  std::wstring policy_name = terminated(name);
  return to_code(entry.function(server_arg(server_name_), 0, policy_name.data(), nullptr));
}

namespace {

// GetQMPolicy / GetMMPolicy need SPDApiBufferFree too, to free what they return: the code for
// the first of them that is unavailable, else std::nullopt.
std::optional<win32_error> get_unavailable(const detail::winipsec_exports& e, policy_kind kind,
                                           std::atomic<const char*>& last) {
  auto failure = kind == policy_kind::quick_mode ? unavailable(e.module, e.get_qm_policy, last)
                                                 : unavailable(e.module, e.get_mm_policy, last);
  if (failure) return failure;
  return unavailable(e.module, e.buffer_free, last);
}

// The Get of `kind` into `returned`: only GetQMPolicy has a dwFlags, passed as 0.
DWORD call_get(const detail::winipsec_exports& e, policy_kind kind, LPWSTR server, LPWSTR name,
               LPVOID* returned) {
  if (kind == policy_kind::quick_mode) {
    return e.get_qm_policy.function(server, 0, name, 0, returned, nullptr);
  }
  return e.get_mm_policy.function(server, 0, name, returned, nullptr);
}

}  // namespace

win32_error windows_agent::get_policy(policy_kind kind, std::wstring_view name) {
  if (auto failure = get_unavailable(*exports_, kind, last_unavailable_)) return *failure;
  std::wstring policy_name = terminated(name);
  LPVOID returned = nullptr;
  const DWORD code =
      call_get(*exports_, kind, server_arg(server_name_), policy_name.data(), &returned);
  if (returned != nullptr) exports_->buffer_free.function(returned);
  return to_code(code);
}

result<fetched_policy> windows_agent::fetch_policy(policy_kind kind, std::wstring_view name) {
  if (auto failure = get_unavailable(*exports_, kind, last_unavailable_)) return *failure;
  std::wstring policy_name = terminated(name);
  LPVOID returned = nullptr;
  const DWORD code =
      call_get(*exports_, kind, server_arg(server_name_), policy_name.data(), &returned);
  fetched_policy owned(returned, exports_->buffer_free.function);
  if (code != ERROR_SUCCESS) return to_code(code);
  if (returned == nullptr) return win32_error::invalid_data;
  return owned;
}

win32_error windows_agent::add_mm_auth_methods(const guid&, native_auth_methods methods) {
  // The GUID is the structure's own gMMAuthID; AddMMAuthMethods takes only the structure.
  const auto& entry = exports_->add_mm_auth_methods;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (methods.sdk_struct == nullptr) return win32_error::invalid_parameter;
  return to_code(entry.function(server_arg(server_name_), 0, methods.flags,
                                detail::sdk_arg(methods.sdk_struct), nullptr));
}

win32_error windows_agent::set_mm_auth_methods(const guid& id, native_auth_methods methods) {
  const auto& entry = exports_->set_mm_auth_methods;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (methods.sdk_struct == nullptr) return win32_error::invalid_parameter;
  return to_code(entry.function(server_arg(server_name_), 0, detail::to_native(id),
                                detail::sdk_arg(methods.sdk_struct), nullptr));
}

win32_error windows_agent::delete_mm_auth_methods(const guid& id) {
  const auto& entry = exports_->delete_mm_auth_methods;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  return to_code(entry.function(server_arg(server_name_), 0, detail::to_native(id), nullptr));
}

}  // namespace ipsec_retry::ipsec
