// SPDX-License-Identifier: BSL-1.0
// The winipsec.dll entry points windows_agent calls: their signatures and the one list of them.
//
// Where the signatures come from. winipsec.dll has no header in current SDKs; these are the
// declarations of the Windows Server 2003 Platform SDK's winipsec.h (the IPsec SPD API, the
// header shipped with the Server 2003 source tree as public/internal/net/inc/winipsec.h), all
// `DWORD WINAPI` except SPDApiBufferFree (`VOID WINAPI`). Read against that header and against
// the client side of the same tree (net/ipsec/spd/client/winipsec.c), which fixes the argument
// order; none of it is copied here.
//
// What is version-dependent. The Windows 2000 / XP winipsec.h exports the same names with other
// signatures: no `DWORD dwVersion` and no `LPVOID pvReserved` (e.g. XP's
// AddTransportFilter(pServerName, dwFlags, pTransportFilter, phFilter) and
// SetTransportFilter(hFilter, pTransportFilter)). Server 2003 added both to every call that
// takes a server name and to Set*Filter; its client returns ERROR_NOT_SUPPORTED for a
// dwVersion other than 0, and pvReserved is unused. So this file passes dwVersion 0 and
// pvReserved NULL, the current API, and the XP-era DLL is not supported. Delete*Filter and
// Close*FilterHandle take the handle alone in both versions. GetQMPolicy has a dwFlags
// (before the out pointer); GetMMPolicy has none.
//
// Structures (IPSEC_QM_POLICY, IPSEC_MM_POLICY, MM_AUTH_METHODS, TRANSPORT_FILTER,
// TUNNEL_FILTER, MM_FILTER) stay opaque: callers pass the SDK's, so they appear as LPVOID.
// Filters are RPC context handles (HANDLE): Add and Open return one through PHANDLE.
//
// Internal to src/ipsec/windows_agent*.cpp. tests/CMakeLists.txt reads the list below (the
// second field of each X(...) line) to build the stand-in DLLs that each lack one export.
#pragma once

#include <ipsec_retry/ipsec/windows_agent.hpp>

#include <windows.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace ipsec_retry::ipsec::detail {

// Add{QM,MM}Policy, AddMMAuthMethods(pServerName, dwVersion, dwFlags, pObject, pvReserved)
using add_object_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, DWORD flags, LPVOID object,
                                     LPVOID reserved);
// Set{QM,MM}Policy(pServerName, dwVersion, pszPolicyName, pPolicy, pvReserved)
using set_policy_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, LPWSTR name, LPVOID policy,
                                     LPVOID reserved);
// Delete{QM,MM}Policy(pServerName, dwVersion, pszPolicyName, pvReserved)
using delete_policy_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, LPWSTR name, LPVOID reserved);
// GetQMPolicy(pServerName, dwVersion, pszPolicyName, dwFlags, ppQMPolicy, pvReserved)
using get_qm_policy_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, LPWSTR name, DWORD flags,
                                        LPVOID* policy, LPVOID reserved);
// GetMMPolicy(pServerName, dwVersion, pszPolicyName, ppMMPolicy, pvReserved): no dwFlags
using get_mm_policy_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, LPWSTR name, LPVOID* policy,
                                        LPVOID reserved);
// SetMMAuthMethods(pServerName, dwVersion, gMMAuthID, pMMAuthMethods, pvReserved): GUID by value
using set_auth_methods_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, GUID id, LPVOID methods,
                                           LPVOID reserved);
// DeleteMMAuthMethods(pServerName, dwVersion, gMMAuthID, pvReserved)
using delete_auth_methods_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, GUID id,
                                              LPVOID reserved);
// Add{Transport,Tunnel,MM}Filter(pServerName, dwVersion, dwFlags, pFilter, pvReserved, phFilter)
using add_filter_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, DWORD flags, LPVOID filter,
                                     LPVOID reserved, PHANDLE handle);
// Open{Transport,Tunnel,MM}FilterHandle(pServerName, dwVersion, pFilter, pvReserved, phFilter)
using open_filter_fn = DWORD(WINAPI*)(LPWSTR server, DWORD version, LPVOID filter, LPVOID reserved,
                                      PHANDLE handle);
// Set{Transport,Tunnel,MM}Filter(hFilter, dwVersion, pFilter, pvReserved)
using set_filter_fn = DWORD(WINAPI*)(HANDLE handle, DWORD version, LPVOID filter, LPVOID reserved);
// Delete{Transport,Tunnel,MM}Filter(hFilter), Close{Transport,Tunnel,MM}FilterHandle(hFilter)
using filter_handle_fn = DWORD(WINAPI*)(HANDLE handle);
// SPDApiBufferFree(pBuffer): frees what Get* returned
using buffer_free_fn = VOID(WINAPI*)(LPVOID buffer);

// Every export windows_agent calls, one line each: X(member, ExportName, signature). Adding an
// export is one line here (and its use); loading, last_unavailable() and the tests follow.
// clang-format off
#define IPSEC_RETRY_WINIPSEC_EXPORTS(X)                                          \
  X(add_qm_policy,             AddQMPolicy,                add_object_fn)          \
  X(add_mm_policy,             AddMMPolicy,                add_object_fn)          \
  X(set_qm_policy,             SetQMPolicy,                set_policy_fn)          \
  X(set_mm_policy,             SetMMPolicy,                set_policy_fn)          \
  X(delete_qm_policy,          DeleteQMPolicy,             delete_policy_fn)       \
  X(delete_mm_policy,          DeleteMMPolicy,             delete_policy_fn)       \
  X(get_qm_policy,             GetQMPolicy,                get_qm_policy_fn)       \
  X(get_mm_policy,             GetMMPolicy,                get_mm_policy_fn)       \
  X(buffer_free,               SPDApiBufferFree,           buffer_free_fn)         \
  X(add_mm_auth_methods,       AddMMAuthMethods,           add_object_fn)          \
  X(set_mm_auth_methods,       SetMMAuthMethods,           set_auth_methods_fn)    \
  X(delete_mm_auth_methods,    DeleteMMAuthMethods,        delete_auth_methods_fn) \
  X(add_transport_filter,      AddTransportFilter,         add_filter_fn)          \
  X(open_transport_filter,     OpenTransportFilterHandle,  open_filter_fn)         \
  X(set_transport_filter,      SetTransportFilter,         set_filter_fn)          \
  X(delete_transport_filter,   DeleteTransportFilter,      filter_handle_fn)       \
  X(close_transport_filter,    CloseTransportFilterHandle, filter_handle_fn)       \
  X(add_tunnel_filter,         AddTunnelFilter,            add_filter_fn)          \
  X(open_tunnel_filter,        OpenTunnelFilterHandle,     open_filter_fn)         \
  X(set_tunnel_filter,         SetTunnelFilter,            set_filter_fn)          \
  X(delete_tunnel_filter,      DeleteTunnelFilter,         filter_handle_fn)       \
  X(close_tunnel_filter,       CloseTunnelFilterHandle,    filter_handle_fn)       \
  X(add_mm_filter,             AddMMFilter,                add_filter_fn)          \
  X(open_mm_filter,            OpenMMFilterHandle,         open_filter_fn)         \
  X(set_mm_filter,             SetMMFilter,                set_filter_fn)          \
  X(delete_mm_filter,          DeleteMMFilter,             filter_handle_fn)       \
  X(close_mm_filter,           CloseMMFilterHandle,        filter_handle_fn)
// clang-format on

/// One export: its name and, once resolved, its address (null when the DLL lacks it).
template <class F>
struct entry_point {
  const char* name;
  F function = nullptr;
};

/// The loaded DLL (null if it could not be loaded, with the loader's code) and every export.
struct winipsec_exports {
  HMODULE module = nullptr;
  DWORD load_error = ERROR_SUCCESS;
#define IPSEC_RETRY_DECLARE_EXPORT(member, export_name, signature) \
  entry_point<signature> member{#export_name};
  IPSEC_RETRY_WINIPSEC_EXPORTS(IPSEC_RETRY_DECLARE_EXPORT)
#undef IPSEC_RETRY_DECLARE_EXPORT
};

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

// pServerName: NULL for this machine. The API takes LPWSTR, so callers pass a mutable copy.
inline LPWSTR server_arg(std::wstring& server) {
  return server.empty() ? nullptr : server.data();
}

// The seam's GUID as the Windows GUID passed by value.
inline GUID to_native(const guid& id) {
  static_assert(sizeof(guid) == sizeof(GUID), "guid must be layout-compatible with GUID");
  GUID native{};
  std::memcpy(&native, &id, sizeof native);
  return native;
}

// The SDK structure of the seam's native_* types, for an LPVOID parameter: the API is not
// const-correct, and winipsec.dll only reads it.
inline LPVOID sdk_arg(const void* sdk_struct) {
  return const_cast<void*>(sdk_struct);
}

inline win32_error to_code(DWORD code) {
  return win32_error{static_cast<std::uint32_t>(code)};
}

}  // namespace ipsec_retry::ipsec::detail

namespace ipsec_retry::ipsec {
struct windows_agent::exports : detail::winipsec_exports {};
}  // namespace ipsec_retry::ipsec
