// SPDX-License-Identifier: BSL-1.0
// The real Policy Agent's filters: transport, tunnel and MM filters through RPC context handles
// (winipsec.dll's HANDLE), as AddXFilter / OpenXFilterHandle / SetXFilter / DeleteXFilter /
// CloseXFilterHandle for X = Transport, Tunnel, MM. Signatures: winipsec_exports.hpp.
#include "ipsec/winipsec_exports.hpp"

namespace ipsec_retry::ipsec {

using detail::server_arg;
using detail::to_code;
using detail::unavailable;

namespace {

// The five entry points of one kind of filter.
struct filter_entry_points {
  const detail::entry_point<detail::add_filter_fn>& add;
  const detail::entry_point<detail::open_filter_fn>& open;
  const detail::entry_point<detail::set_filter_fn>& set;
  const detail::entry_point<detail::filter_handle_fn>& remove;  // Delete*Filter
  const detail::entry_point<detail::filter_handle_fn>& close;
};

filter_entry_points entry_points_for(const detail::winipsec_exports& e, filter_kind kind) {
  switch (kind) {
    case filter_kind::transport:
      break;  // below: also the answer for a value outside the enum
    case filter_kind::tunnel:
      return {e.add_tunnel_filter, e.open_tunnel_filter, e.set_tunnel_filter,
              e.delete_tunnel_filter, e.close_tunnel_filter};
    case filter_kind::main_mode:
      return {e.add_mm_filter, e.open_mm_filter, e.set_mm_filter, e.delete_mm_filter,
              e.close_mm_filter};
  }
  return {e.add_transport_filter, e.open_transport_filter, e.set_transport_filter,
          e.delete_transport_filter, e.close_transport_filter};
}

HANDLE to_native(agent_handle handle) {
  return reinterpret_cast<HANDLE>(handle.value);
}

agent_handle from_native(HANDLE handle) {
  return agent_handle{reinterpret_cast<std::uintptr_t>(handle)};
}

}  // namespace

win32_error windows_agent::add_filter(const native_filter& filter, agent_handle& handle) {
  handle = {};
  const auto& entry = entry_points_for(*exports_, filter.kind).add;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (filter.sdk_struct == nullptr) return win32_error::invalid_parameter;
  HANDLE returned = nullptr;
  const DWORD code = entry.function(server_arg(server_name_), 0, filter.flags,
                                    detail::sdk_arg(filter.sdk_struct), nullptr, &returned);
  if (code == ERROR_SUCCESS) handle = from_native(returned);
  return to_code(code);
}

win32_error windows_agent::open_filter(const native_filter& filter, agent_handle& handle) {
  handle = {};
  const auto& entry = entry_points_for(*exports_, filter.kind).open;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (filter.sdk_struct == nullptr) return win32_error::invalid_parameter;
  HANDLE returned = nullptr;
  const DWORD code = entry.function(server_arg(server_name_), 0, detail::sdk_arg(filter.sdk_struct),
                                    nullptr, &returned);
  if (code == ERROR_SUCCESS) handle = from_native(returned);
  return to_code(code);
}

win32_error windows_agent::set_filter(filter_kind kind, agent_handle handle,
                                      const native_filter& filter) {
  const auto& entry = entry_points_for(*exports_, kind).set;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  // The SDK structure must be the one this Set reads (TRANSPORT_FILTER for SetTransportFilter).
  if (filter.sdk_struct == nullptr || filter.kind != kind) return win32_error::invalid_parameter;
  if (!handle) return win32_error::invalid_handle;
  return to_code(entry.function(to_native(handle), 0, detail::sdk_arg(filter.sdk_struct), nullptr));
}

win32_error windows_agent::delete_filter(filter_kind kind, agent_handle handle) {
  const auto& entry = entry_points_for(*exports_, kind).remove;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (!handle) return win32_error::invalid_handle;
  return to_code(entry.function(to_native(handle)));
}

win32_error windows_agent::close_filter(filter_kind kind, agent_handle handle) {
  const auto& entry = entry_points_for(*exports_, kind).close;
  if (auto failure = unavailable(exports_->module, entry, last_unavailable_)) return *failure;
  if (!handle) return win32_error::invalid_handle;
  return to_code(entry.function(to_native(handle)));
}

}  // namespace ipsec_retry::ipsec
