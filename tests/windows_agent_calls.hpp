// SPDX-License-Identifier: BSL-1.0
// The Windows agent tests' table: which windows_agent call reaches each winipsec.dll export,
// with valid arguments (tests/windows_agent_test.cpp, tests/windows_agent_calls_test.cpp).
#pragma once

#include <ipsec_retry/ipsec/windows_agent.hpp>

#include <functional>
#include <string_view>
#include <vector>

namespace windows_agent_test {

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using ipsec::filter_kind;
using ipsec::policy_kind;

// SDK structures: the agent passes their addresses through untouched, the stand-in records them.
inline int qm_struct, mm_struct, auth_struct, filter_struct;

inline constexpr ipsec::guid auth_id{0x12345678, 0x9abc, 0xdef0, {1, 2, 3, 4, 5, 6, 7, 8}};

// A filter of `kind` with `sdk_struct` (built by assignment: native_filter's `policy` has no
// default member initializer, so a designated initializer that skips it warns under -Wextra).
inline ipsec::native_filter filter_of(filter_kind kind, const void* sdk_struct = &filter_struct) {
  ipsec::native_filter filter;
  filter.kind = kind;
  filter.sdk_struct = sdk_struct;
  return filter;
}

// Which agent call reaches each export; one line per export, with a valid argument each.
struct export_call {
  std::string_view export_name;
  std::function<ir::win32_error(ipsec::windows_agent&)> call;
};

inline const std::vector<export_call>& export_calls() {
  static const ipsec::agent_handle h{0x77};
  static const std::vector<export_call> calls = {
      {"AddQMPolicy",
       [](auto& a) {
         return a.add_policy(policy_kind::quick_mode, L"qm", {.sdk_struct = &qm_struct});
       }},
      {"AddMMPolicy",
       [](auto& a) {
         return a.add_policy(policy_kind::main_mode, L"mm", {.sdk_struct = &mm_struct});
       }},
      {"SetQMPolicy",
       [](auto& a) {
         return a.set_policy(policy_kind::quick_mode, L"qm", {.sdk_struct = &qm_struct});
       }},
      {"SetMMPolicy",
       [](auto& a) {
         return a.set_policy(policy_kind::main_mode, L"mm", {.sdk_struct = &mm_struct});
       }},
      {"DeleteQMPolicy", [](auto& a) { return a.delete_policy(policy_kind::quick_mode, L"qm"); }},
      {"DeleteMMPolicy", [](auto& a) { return a.delete_policy(policy_kind::main_mode, L"mm"); }},
      {"GetQMPolicy", [](auto& a) { return a.get_policy(policy_kind::quick_mode, L"qm"); }},
      {"GetMMPolicy", [](auto& a) { return a.get_policy(policy_kind::main_mode, L"mm"); }},
      // Get needs SPDApiBufferFree too, and checks for it before calling.
      {"SPDApiBufferFree", [](auto& a) { return a.get_policy(policy_kind::quick_mode, L"qm"); }},
      {"AddMMAuthMethods",
       [](auto& a) { return a.add_mm_auth_methods(auth_id, {.sdk_struct = &auth_struct}); }},
      {"SetMMAuthMethods",
       [](auto& a) { return a.set_mm_auth_methods(auth_id, {.sdk_struct = &auth_struct}); }},
      {"DeleteMMAuthMethods", [](auto& a) { return a.delete_mm_auth_methods(auth_id); }},
      {"AddTransportFilter",
       [](auto& a) {
         ipsec::agent_handle out;
         return a.add_filter(filter_of(filter_kind::transport), out);
       }},
      {"OpenTransportFilterHandle",
       [](auto& a) {
         ipsec::agent_handle out;
         return a.open_filter(filter_of(filter_kind::transport), out);
       }},
      {"SetTransportFilter",
       [](auto& a) {
         return a.set_filter(filter_kind::transport, h, filter_of(filter_kind::transport));
       }},
      {"DeleteTransportFilter", [](auto& a) { return a.delete_filter(filter_kind::transport, h); }},
      {"CloseTransportFilterHandle",
       [](auto& a) { return a.close_filter(filter_kind::transport, h); }},
      {"AddTunnelFilter",
       [](auto& a) {
         ipsec::agent_handle out;
         return a.add_filter(filter_of(filter_kind::tunnel), out);
       }},
      {"OpenTunnelFilterHandle",
       [](auto& a) {
         ipsec::agent_handle out;
         return a.open_filter(filter_of(filter_kind::tunnel), out);
       }},
      {"SetTunnelFilter",
       [](auto& a) {
         return a.set_filter(filter_kind::tunnel, h, filter_of(filter_kind::tunnel));
       }},
      {"DeleteTunnelFilter", [](auto& a) { return a.delete_filter(filter_kind::tunnel, h); }},
      {"CloseTunnelFilterHandle", [](auto& a) { return a.close_filter(filter_kind::tunnel, h); }},
      {"AddMMFilter",
       [](auto& a) {
         ipsec::agent_handle out;
         return a.add_filter(filter_of(filter_kind::main_mode), out);
       }},
      {"OpenMMFilterHandle",
       [](auto& a) {
         ipsec::agent_handle out;
         return a.open_filter(filter_of(filter_kind::main_mode), out);
       }},
      {"SetMMFilter",
       [](auto& a) {
         return a.set_filter(filter_kind::main_mode, h, filter_of(filter_kind::main_mode));
       }},
      {"DeleteMMFilter", [](auto& a) { return a.delete_filter(filter_kind::main_mode, h); }},
      {"CloseMMFilterHandle", [](auto& a) { return a.close_filter(filter_kind::main_mode, h); }},
  };
  return calls;
}

}  // namespace windows_agent_test
