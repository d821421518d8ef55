// TEMPORARY until the code table lands (branch codes): object_kind and codes_for(object_kind).
#pragma once
#include <cstdint>
#include <ipsec_retry/win32_error.hpp>
#include <string_view>
namespace ipsec_retry {
enum class object_kind : std::uint8_t {
  qm_policy,
  mm_policy,
  mm_auth_methods,
  transport_filter,
  tunnel_filter,
  mm_filter
};
struct object_codes {
  win32_error exists, not_found, in_use, pending_deletion;
};
constexpr object_codes codes_for(object_kind k) noexcept {
  switch (k) {
    case object_kind::qm_policy:
      return {win32_error{13000}, win32_error{13001}, win32_error{13002}, win32_error{13023}};
    case object_kind::mm_policy:
      return {win32_error{13003}, win32_error{13004}, win32_error{13005}, win32_error{13021}};
    case object_kind::mm_auth_methods:
      return {win32_error{13010}, win32_error{13011}, win32_error{13012}, win32_error{13022}};
    case object_kind::transport_filter:
      return {win32_error{13008}, win32_error{13009}, win32_error{}, win32_error{13019}};
    case object_kind::tunnel_filter:
      return {win32_error{13016}, win32_error{13017}, win32_error{}, win32_error{13020}};
    case object_kind::mm_filter:
      return {win32_error{13006}, win32_error{13007}, win32_error{}, win32_error{13018}};
  }
  return {};
}
constexpr bool is_ambiguous_failure(win32_error code) noexcept {
  switch (to_underlying(code)) {
    case 1726:
    case 1820:
    case 1818:
    case 1460:
      return true;
    default:
      return false;
  }
}
}  // namespace ipsec_retry
