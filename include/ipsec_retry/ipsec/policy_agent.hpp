// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: the IPsec Policy Agent seam.
//
// The operations the library retries, keyed as winipsec.dll keys them: QM and MM policies by
// name, MM authentication methods by GUID, transport, tunnel and MM filters by handle (an RPC
// context handle: Add and Open return one, Delete consumes it, Close releases it). Each returns
// the Win32 code the agent returned. One policy_agent object is one client of the agent (one
// RPC binding): the handles it returns are its own. Implementations: simulated_agent (any OS,
// the rules of docs/simulator.md) and windows_agent (Windows, winipsec.dll loaded at run time).
#pragma once

#include <ipsec_retry/win32_error.hpp>

#include <array>
#include <cstdint>
#include <string_view>

namespace ipsec_retry::ipsec {

/// Quick Mode (IPSEC_QM_POLICY) or Main Mode (IPSEC_MM_POLICY).
enum class policy_kind : std::uint8_t { quick_mode, main_mode };

constexpr std::string_view to_string(policy_kind k) noexcept {
  return k == policy_kind::quick_mode ? "QM" : "MM";
}

/// The codes the agent uses for a kind of policy (win32_error.hpp: codes_for(object_kind)).
using policy_codes = object_codes;
constexpr policy_codes codes_for(policy_kind k) noexcept {
  return codes_for(k == policy_kind::quick_mode ? object_kind::qm_policy : object_kind::mm_policy);
}

/// A GUID, layout-compatible with Windows' GUID (as winipsec.dll keys MM auth methods).
struct guid {
  std::uint32_t data1 = 0;
  std::uint16_t data2 = 0;
  std::uint16_t data3 = 0;
  std::array<std::uint8_t, 8> data4{};
  friend constexpr bool operator==(const guid&, const guid&) = default;
  friend constexpr auto operator<=>(const guid&, const guid&) = default;
};

/// winipsec.h's dwFlags for Add*: the object is kept across Policy Agent restarts (what
/// management tools add). 0 = in memory only.
inline constexpr std::uint32_t persist_spd_object = 0x00000001;  // PERSIST_SPD_OBJECT

/// The SDK structure for Add/Set (a pointer to an IPSEC_QM_POLICY or IPSEC_MM_POLICY built
/// with the Windows SDK), passed through untouched to winipsec.dll. Opaque here, so this header
/// needs no Windows headers; the simulator ignores it. `flags`: Add's dwFlags.
struct native_policy {
  const void* sdk_struct = nullptr;
  std::uint32_t flags = 0;
};

/// The SDK structure for AddMMAuthMethods / SetMMAuthMethods (MM_AUTH_METHODS), opaque as
/// native_policy. `flags`: Add's dwFlags.
struct native_auth_methods {
  const void* sdk_struct = nullptr;
  std::uint32_t flags = 0;
};

/// The three kinds of filter. Transport and tunnel filters use a QM policy; an MM filter uses
/// an MM policy and a set of MM auth methods.
enum class filter_kind : std::uint8_t { transport, tunnel, main_mode };

constexpr std::string_view to_string(filter_kind k) noexcept {
  switch (k) {
    case filter_kind::transport:
      return "transport";
    case filter_kind::tunnel:
      return "tunnel";
    case filter_kind::main_mode:
      return "MM";
  }
  return "transport";
}

/// An RPC context handle to a filter (winipsec's HANDLE), opaque; {} holds none. It belongs to
/// the client (policy_agent) that received it.
struct agent_handle {
  std::uintptr_t value = 0;
  explicit constexpr operator bool() const noexcept { return value != 0; }
  friend constexpr bool operator==(agent_handle, agent_handle) = default;
};

/// A filter as the seam passes it: the SDK structure (TRANSPORT_FILTER, TUNNEL_FILTER or
/// MM_FILTER) for winipsec.dll, and the identity and references it holds, which the simulator
/// reads (the SDK structure carries them too: gFilterID, gPolicyID, gMMAuthID).
struct native_filter {
  filter_kind kind = filter_kind::transport;
  guid id{};                 ///< gFilterID: the same id is the same filter
  std::wstring_view policy;  ///< the QM (transport, tunnel) or MM (MM filter) policy it uses
  guid auth_methods{};       ///< MM filter: the MM auth methods it uses
  const void* sdk_struct = nullptr;
  std::uint32_t flags = 0;  ///< Add's dwFlags
};

/// The Policy Agent. Calls are thread-safe in every implementation.
class policy_agent {
 public:
  virtual ~policy_agent() = default;

  /// AddQMPolicy / AddMMPolicy. `name` must be the policy's pszPolicyName.
  virtual win32_error add_policy(policy_kind kind, std::wstring_view name,
                                 native_policy policy) = 0;
  /// SetQMPolicy / SetMMPolicy.
  virtual win32_error set_policy(policy_kind kind, std::wstring_view name,
                                 native_policy policy) = 0;
  /// DeleteQMPolicy / DeleteMMPolicy.
  virtual win32_error delete_policy(policy_kind kind, std::wstring_view name) = 0;
  /// GetQMPolicy / GetMMPolicy: ERROR_SUCCESS when the policy exists (the returned structure is
  /// freed at once), else the agent's code.
  virtual win32_error get_policy(policy_kind kind, std::wstring_view name) = 0;
  /// AddMMAuthMethods / SetMMAuthMethods / DeleteMMAuthMethods, keyed by the auth methods'
  /// GUID (gMMAuthID; for Add and Set also the SDK structure's).
  virtual win32_error add_mm_auth_methods(const guid& id, native_auth_methods methods) = 0;
  virtual win32_error set_mm_auth_methods(const guid& id, native_auth_methods methods) = 0;
  virtual win32_error delete_mm_auth_methods(const guid& id) = 0;

  /// AddTransportFilter / AddTunnelFilter / AddMMFilter: on success `handle` holds a new handle
  /// to the filter (this client's; close it or delete through it).
  virtual win32_error add_filter(const native_filter& filter, agent_handle& handle) = 0;
  /// Open*FilterHandle: another handle to an existing filter (matched by its id).
  virtual win32_error open_filter(const native_filter& filter, agent_handle& handle) = 0;
  /// Set*Filter through a handle of this client's.
  virtual win32_error set_filter(filter_kind kind, agent_handle handle,
                                 const native_filter& filter) = 0;
  /// Delete*Filter through a handle: on success the handle is consumed (closed).
  virtual win32_error delete_filter(filter_kind kind, agent_handle handle) = 0;
  /// Close*FilterHandle: releases the handle, never the filter (unless it was pending
  /// deletion and this was its last handle).
  virtual win32_error close_filter(filter_kind kind, agent_handle handle) = 0;

 protected:
  policy_agent() = default;
  policy_agent(const policy_agent&) = default;
  policy_agent& operator=(const policy_agent&) = default;
};

}  // namespace ipsec_retry::ipsec
