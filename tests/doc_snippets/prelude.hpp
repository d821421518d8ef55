// SPDX-License-Identifier: BSL-1.0
// The context every C++ snippet of README.md and docs/*.md is compiled in (doc_snippets.cmake).
// It holds only what a reader's own program would have: the library, the `ir` alias, chrono
// literals, and stand-ins for the reader's own names (the Windows SDK function a snippet wraps,
// its arguments, an op, a policy, an agent, a budget). Anything else a snippet uses it must define
// itself: no helper of the docs' own (a file reader, an error exit) belongs here.
#pragma once

#include <ipsec_retry/ipsec_retry.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace ir = ipsec_retry;
using namespace std::chrono_literals;

// The Windows SDK's IPSEC_QM_POLICY and the winipsec.dll functions, reduced to their shape (a
// DWORD is a 32-bit unsigned code).
struct sdk_qm_policy {};
inline std::uint32_t SetQMPolicy(const wchar_t*, std::uint32_t, const wchar_t*, sdk_qm_policy*,
                                 void*) {
  return 0;
}
inline std::uint32_t DeleteQMPolicy(const wchar_t*, std::uint32_t, const wchar_t*, void*) {
  return 0;
}

// The reader's own values.
inline const wchar_t* server = nullptr;  // this machine
inline const wchar_t* name = L"corp-qm";
inline sdk_qm_policy qm;
inline constexpr auto op = []() -> std::uint32_t { return 0; };
inline const ir::retry_policy policy{};
inline ir::ipsec::simulated_agent agent{ir::steady_clock_source{}};
inline ir::retry_budget budget{ir::retry_budget::settings{}};  // docs/protection.md's shared one
inline void report(const ir::retry_error&) {}
