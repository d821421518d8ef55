// SPDX-License-Identifier: BSL-1.0
// The stand-in winipsec.dll of the Windows tests (tests/winipsec_stand_in/stand_in.cpp): what it
// records of the last call, shared by the DLL and tests/windows_agent_test.cpp.
#pragma once

#include <windows.h>

/// What the stand-in's last winipsec entry point received (and, for Add/Open, returned).
struct stand_in_call {
  char function[48];     ///< the export called, e.g. "AddTransportFilter"
  unsigned calls;        ///< winipsec calls since the DLL was loaded (not the StandIn* ones)
  bool server_is_null;   ///< pServerName was NULL (this machine)
  wchar_t server[64];    ///< else pServerName
  wchar_t name[64];      ///< pszPolicyName, for the name-keyed calls
  DWORD version;         ///< dwVersion
  DWORD flags;           ///< dwFlags (Add*, GetQMPolicy)
  const void* object;    ///< the SDK structure passed
  const void* reserved;  ///< pvReserved
  GUID id;               ///< gMMAuthID (SetMMAuthMethods, DeleteMMAuthMethods)
  HANDLE handle;         ///< the handle passed (Set, Delete, Close) or written (Add, Open)
  const void* freed;     ///< the last buffer given to SPDApiBufferFree (kept across calls)
};

/// Exports of the stand-in besides winipsec's own: every call returns `code` from now on
/// (ERROR_SUCCESS at load); StandInLastCall() is the record above.
using stand_in_script_fn = void(WINAPI*)(DWORD code);
using stand_in_last_call_fn = const stand_in_call*(WINAPI*)();
