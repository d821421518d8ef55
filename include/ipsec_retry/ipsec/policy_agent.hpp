// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: the IPsec Policy Agent seam.
//
// The operations the library retries, keyed as winipsec.dll keys them: QM and MM policies by
// name, MM authentication methods by GUID. Each returns the Win32 code the agent returned.
// Implementations: simulated_agent (any OS, modelled behaviour) and windows_agent (Windows,
// the real winipsec.dll loaded at run time).
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

/// The codes the agent uses for a kind of policy.
struct policy_codes {
  win32_error exists;            ///< ERROR_IPSEC_QM_POLICY_EXISTS 13000 / _MM_ 13003
  win32_error not_found;         ///< ERROR_IPSEC_QM_POLICY_NOT_FOUND 13001 / _MM_ 13004
  win32_error in_use;            ///< ERROR_IPSEC_QM_POLICY_IN_USE 13002 / _MM_ 13005
  win32_error pending_deletion;  ///< ERROR_IPSEC_QM_POLICY_PENDING_DELETION 13023 / _MM_ 13021
};
constexpr policy_codes codes_for(policy_kind k) noexcept {
  return k == policy_kind::quick_mode ? policy_codes{win32_error{13000}, win32_error{13001},
                                                     win32_error{13002}, win32_error{13023}}
                                      : policy_codes{win32_error{13003}, win32_error{13004},
                                                     win32_error{13005}, win32_error{13021}};
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

/// The SDK structure for Add/Set (a pointer to an IPSEC_QM_POLICY or IPSEC_MM_POLICY built
/// with the Windows SDK), passed through untouched to winipsec.dll. Opaque here, so this header
/// needs no Windows headers; the simulator ignores it.
struct native_policy {
  const void* sdk_struct = nullptr;
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
  /// DeleteMMAuthMethods, keyed by the auth methods' GUID.
  virtual win32_error delete_mm_auth_methods(const guid& id) = 0;

 protected:
  policy_agent() = default;
  policy_agent(const policy_agent&) = default;
  policy_agent& operator=(const policy_agent&) = default;
};

}  // namespace ipsec_retry::ipsec
