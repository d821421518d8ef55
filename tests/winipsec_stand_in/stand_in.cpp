// SPDX-License-Identifier: BSL-1.0
// A stand-in winipsec.dll for the Windows tests: every entry point windows_agent loads, with the
// signatures src/ipsec/winipsec_exports.hpp declares (written out again here, from the same
// winipsec.h, so a mismatch between the two shows as a wrong record), recording its arguments
// (stand_in.hpp) and returning the scripted code. Add and Open write a new handle even when
// they fail, so the tests see that windows_agent keeps only a successful one; GetQMPolicy and
// GetMMPolicy return a static buffer that SPDApiBufferFree records.
//
// Linked once per .def file (tests/winipsec_stand_in/CMakeLists.txt): with every export, and
// once per export without it. The signatures are x64 ones (undecorated names).
#include "stand_in.hpp"

#include <cstring>
#include <cwchar>

namespace {

stand_in_call last{};
DWORD scripted = ERROR_SUCCESS;
ULONG_PTR next_handle = 0x5100;
unsigned char policy_buffer[16];

void copy(wchar_t (&to)[64], const wchar_t* from) {
  to[0] = L'\0';
  if (from != nullptr) std::wcsncat(to, from, 63);
}

// Starts the record of a call to `function`; returns the scripted code.
DWORD record(const char* function, LPWSTR server, DWORD version, LPVOID reserved) {
  const unsigned calls = last.calls + 1;
  const void* freed = last.freed;
  last = stand_in_call{};
  last.calls = calls;
  last.freed = freed;
  std::strncpy(last.function, function, sizeof last.function - 1);
  last.server_is_null = server == nullptr;
  copy(last.server, server);
  last.version = version;
  last.reserved = reserved;
  return scripted;
}

DWORD record_handle(const char* function, HANDLE handle) {
  const DWORD code = record(function, nullptr, 0, nullptr);
  last.server_is_null = false;  // no server argument at all
  last.handle = handle;
  return code;
}

HANDLE issue(PHANDLE out) {
  HANDLE h = reinterpret_cast<HANDLE>(next_handle++);
  if (out != nullptr) *out = h;
  last.handle = h;
  return h;
}

DWORD add_object(const char* function, LPWSTR server, DWORD version, DWORD flags, LPVOID object,
                 LPVOID reserved) {
  const DWORD code = record(function, server, version, reserved);
  last.flags = flags;
  last.object = object;
  return code;
}

DWORD set_policy(const char* function, LPWSTR server, DWORD version, LPWSTR name, LPVOID policy,
                 LPVOID reserved) {
  const DWORD code = record(function, server, version, reserved);
  copy(last.name, name);
  last.object = policy;
  return code;
}

DWORD delete_policy(const char* function, LPWSTR server, DWORD version, LPWSTR name,
                    LPVOID reserved) {
  const DWORD code = record(function, server, version, reserved);
  copy(last.name, name);
  return code;
}

DWORD get_policy(const char* function, LPWSTR server, DWORD version, LPWSTR name, DWORD flags,
                 LPVOID* policy, LPVOID reserved) {
  const DWORD code = record(function, server, version, reserved);
  copy(last.name, name);
  last.flags = flags;
  if (policy != nullptr) *policy = code == ERROR_SUCCESS ? policy_buffer : nullptr;
  return code;
}

DWORD add_filter(const char* function, LPWSTR server, DWORD version, DWORD flags, LPVOID filter,
                 LPVOID reserved, PHANDLE handle) {
  const DWORD code = add_object(function, server, version, flags, filter, reserved);
  issue(handle);
  return code;
}

DWORD open_filter(const char* function, LPWSTR server, DWORD version, LPVOID filter,
                  LPVOID reserved, PHANDLE handle) {
  const DWORD code = record(function, server, version, reserved);
  last.object = filter;
  issue(handle);
  return code;
}

DWORD set_filter(const char* function, HANDLE handle, DWORD version, LPVOID filter,
                 LPVOID reserved) {
  const DWORD code = record_handle(function, handle);
  last.version = version;
  last.object = filter;
  last.reserved = reserved;
  return code;
}

}  // namespace

extern "C" {

void WINAPI StandInScript(DWORD code) {
  scripted = code;
}
const stand_in_call* WINAPI StandInLastCall() {
  return &last;
}

DWORD WINAPI AddQMPolicy(LPWSTR server, DWORD version, DWORD flags, LPVOID policy,
                         LPVOID reserved) {
  return add_object("AddQMPolicy", server, version, flags, policy, reserved);
}
DWORD WINAPI AddMMPolicy(LPWSTR server, DWORD version, DWORD flags, LPVOID policy,
                         LPVOID reserved) {
  return add_object("AddMMPolicy", server, version, flags, policy, reserved);
}
DWORD WINAPI SetQMPolicy(LPWSTR server, DWORD version, LPWSTR name, LPVOID policy,
                         LPVOID reserved) {
  return set_policy("SetQMPolicy", server, version, name, policy, reserved);
}
DWORD WINAPI SetMMPolicy(LPWSTR server, DWORD version, LPWSTR name, LPVOID policy,
                         LPVOID reserved) {
  return set_policy("SetMMPolicy", server, version, name, policy, reserved);
}
DWORD WINAPI DeleteQMPolicy(LPWSTR server, DWORD version, LPWSTR name, LPVOID reserved) {
  return delete_policy("DeleteQMPolicy", server, version, name, reserved);
}
DWORD WINAPI DeleteMMPolicy(LPWSTR server, DWORD version, LPWSTR name, LPVOID reserved) {
  return delete_policy("DeleteMMPolicy", server, version, name, reserved);
}
DWORD WINAPI GetQMPolicy(LPWSTR server, DWORD version, LPWSTR name, DWORD flags, LPVOID* policy,
                         LPVOID reserved) {
  return get_policy("GetQMPolicy", server, version, name, flags, policy, reserved);
}
// No dwFlags, unlike GetQMPolicy; recorded as 0.
DWORD WINAPI GetMMPolicy(LPWSTR server, DWORD version, LPWSTR name, LPVOID* policy,
                         LPVOID reserved) {
  return get_policy("GetMMPolicy", server, version, name, 0, policy, reserved);
}
VOID WINAPI SPDApiBufferFree(LPVOID buffer) {
  last.freed = buffer;
}

DWORD WINAPI AddMMAuthMethods(LPWSTR server, DWORD version, DWORD flags, LPVOID methods,
                              LPVOID reserved) {
  return add_object("AddMMAuthMethods", server, version, flags, methods, reserved);
}
DWORD WINAPI SetMMAuthMethods(LPWSTR server, DWORD version, GUID id, LPVOID methods,
                              LPVOID reserved) {
  const DWORD code = record("SetMMAuthMethods", server, version, reserved);
  last.id = id;
  last.object = methods;
  return code;
}
DWORD WINAPI DeleteMMAuthMethods(LPWSTR server, DWORD version, GUID id, LPVOID reserved) {
  const DWORD code = record("DeleteMMAuthMethods", server, version, reserved);
  last.id = id;
  return code;
}

DWORD WINAPI AddTransportFilter(LPWSTR server, DWORD version, DWORD flags, LPVOID filter,
                                LPVOID reserved, PHANDLE handle) {
  return add_filter("AddTransportFilter", server, version, flags, filter, reserved, handle);
}
DWORD WINAPI OpenTransportFilterHandle(LPWSTR server, DWORD version, LPVOID filter, LPVOID reserved,
                                       PHANDLE handle) {
  return open_filter("OpenTransportFilterHandle", server, version, filter, reserved, handle);
}
DWORD WINAPI SetTransportFilter(HANDLE handle, DWORD version, LPVOID filter, LPVOID reserved) {
  return set_filter("SetTransportFilter", handle, version, filter, reserved);
}
DWORD WINAPI DeleteTransportFilter(HANDLE handle) {
  return record_handle("DeleteTransportFilter", handle);
}
DWORD WINAPI CloseTransportFilterHandle(HANDLE handle) {
  return record_handle("CloseTransportFilterHandle", handle);
}

DWORD WINAPI AddTunnelFilter(LPWSTR server, DWORD version, DWORD flags, LPVOID filter,
                             LPVOID reserved, PHANDLE handle) {
  return add_filter("AddTunnelFilter", server, version, flags, filter, reserved, handle);
}
DWORD WINAPI OpenTunnelFilterHandle(LPWSTR server, DWORD version, LPVOID filter, LPVOID reserved,
                                    PHANDLE handle) {
  return open_filter("OpenTunnelFilterHandle", server, version, filter, reserved, handle);
}
DWORD WINAPI SetTunnelFilter(HANDLE handle, DWORD version, LPVOID filter, LPVOID reserved) {
  return set_filter("SetTunnelFilter", handle, version, filter, reserved);
}
DWORD WINAPI DeleteTunnelFilter(HANDLE handle) {
  return record_handle("DeleteTunnelFilter", handle);
}
DWORD WINAPI CloseTunnelFilterHandle(HANDLE handle) {
  return record_handle("CloseTunnelFilterHandle", handle);
}

DWORD WINAPI AddMMFilter(LPWSTR server, DWORD version, DWORD flags, LPVOID filter, LPVOID reserved,
                         PHANDLE handle) {
  return add_filter("AddMMFilter", server, version, flags, filter, reserved, handle);
}
DWORD WINAPI OpenMMFilterHandle(LPWSTR server, DWORD version, LPVOID filter, LPVOID reserved,
                                PHANDLE handle) {
  return open_filter("OpenMMFilterHandle", server, version, filter, reserved, handle);
}
DWORD WINAPI SetMMFilter(HANDLE handle, DWORD version, LPVOID filter, LPVOID reserved) {
  return set_filter("SetMMFilter", handle, version, filter, reserved);
}
DWORD WINAPI DeleteMMFilter(HANDLE handle) {
  return record_handle("DeleteMMFilter", handle);
}
DWORD WINAPI CloseMMFilterHandle(HANDLE handle) {
  return record_handle("CloseMMFilterHandle", handle);
}

}  // extern "C"
