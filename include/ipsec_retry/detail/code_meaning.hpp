// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: lookups of the code table's meaning columns (detail/code_table.inc).
//
// Each lookup is one switch generated from the table. Only the rows whose column differs from
// the default become case labels (token pasting picks a case-emitting macro per column value),
// so the switch is as small as a hand-written one and a lookup costs what it did before the
// table existed: no loop, no allocation, constant time.
#pragma once

#include <cstdint>

namespace ipsec_retry::detail::code_column {

/// The `retry` column: the default verdict (if_idempotent = transient only at idempotent sites).
/// success, transient and permanent have the values of ipsec_retry::verdict's enumerators.
enum class retry : std::uint8_t { success, transient, permanent, if_idempotent };
/// The `load` column: whether the code says the agent's server is struggling.
enum class load : std::uint8_t { none, overload, transport };
/// The `object` column, in the order of ipsec_retry::object_kind, then none.
enum class object : std::uint8_t {
  qm_policy,
  mm_policy,
  mm_auth_methods,
  transport_filter,
  tunnel_filter,
  mm_filter,
  none
};
/// The `role` column, in the order of the fields of ipsec_retry::object_codes, then none.
enum class role : std::uint8_t { exists, not_found, in_use, pending_deletion, none };

/// An object column and a role column together.
struct object_role {
  code_column::object object = object::none;
  code_column::role role = role::none;
};

// Case emitters, chosen by pasting the column value onto the macro name. The default value of
// each column (permanent, none) emits nothing.
#define IPSEC_RETRY_RETRY_CASE_success(v) \
  case v:                                 \
    return retry::success;
#define IPSEC_RETRY_RETRY_CASE_transient(v) \
  case v:                                   \
    return retry::transient;
#define IPSEC_RETRY_RETRY_CASE_if_idempotent(v) \
  case v:                                       \
    return retry::if_idempotent;
#define IPSEC_RETRY_RETRY_CASE_permanent(v)
#define IPSEC_RETRY_LOAD_CASE_overload(v) \
  case v:                                 \
    return load::overload;
#define IPSEC_RETRY_LOAD_CASE_transport(v) \
  case v:                                  \
    return load::transport;
#define IPSEC_RETRY_LOAD_CASE_none(v)
#define IPSEC_RETRY_OBJECT_CASE_qm_policy(v, r) \
  case v:                                       \
    return {object::qm_policy, role::r};
#define IPSEC_RETRY_OBJECT_CASE_mm_policy(v, r) \
  case v:                                       \
    return {object::mm_policy, role::r};
#define IPSEC_RETRY_OBJECT_CASE_mm_auth_methods(v, r) \
  case v:                                             \
    return {object::mm_auth_methods, role::r};
#define IPSEC_RETRY_OBJECT_CASE_transport_filter(v, r) \
  case v:                                              \
    return {object::transport_filter, role::r};
#define IPSEC_RETRY_OBJECT_CASE_tunnel_filter(v, r) \
  case v:                                           \
    return {object::tunnel_filter, role::r};
#define IPSEC_RETRY_OBJECT_CASE_mm_filter(v, r) \
  case v:                                       \
    return {object::mm_filter, role::r};
#define IPSEC_RETRY_OBJECT_CASE_none(v, r)

/// The retry column of a normalized code; permanent when the code is not a row.
constexpr retry retry_of(std::uint32_t normalized) noexcept {
  switch (normalized) {
#define IPSEC_RETRY_CODE(name_, value_, kind_, retry_, load_, object_, role_, message_) \
  IPSEC_RETRY_RETRY_CASE_##retry_(value_)
#include <ipsec_retry/detail/code_table.inc>
#undef IPSEC_RETRY_CODE
    default:
      return retry::permanent;
  }
}

/// The load column of a normalized code; none when the code is not a row.
constexpr load load_of(std::uint32_t normalized) noexcept {
  switch (normalized) {
#define IPSEC_RETRY_CODE(name_, value_, kind_, retry_, load_, object_, role_, message_) \
  IPSEC_RETRY_LOAD_CASE_##load_(value_)
#include <ipsec_retry/detail/code_table.inc>
#undef IPSEC_RETRY_CODE
    default:
      return load::none;
  }
}

/// The object and role columns of a normalized code; {none, none} when the code is not a row.
constexpr object_role object_role_of(std::uint32_t normalized) noexcept {
  switch (normalized) {
#define IPSEC_RETRY_CODE(name_, value_, kind_, retry_, load_, object_, role_, message_) \
  IPSEC_RETRY_OBJECT_CASE_##object_(value_, role_)
#include <ipsec_retry/detail/code_table.inc>
#undef IPSEC_RETRY_CODE
    default:
      return {};
  }
}

#undef IPSEC_RETRY_RETRY_CASE_success
#undef IPSEC_RETRY_RETRY_CASE_transient
#undef IPSEC_RETRY_RETRY_CASE_if_idempotent
#undef IPSEC_RETRY_RETRY_CASE_permanent
#undef IPSEC_RETRY_LOAD_CASE_overload
#undef IPSEC_RETRY_LOAD_CASE_transport
#undef IPSEC_RETRY_LOAD_CASE_none
#undef IPSEC_RETRY_OBJECT_CASE_qm_policy
#undef IPSEC_RETRY_OBJECT_CASE_mm_policy
#undef IPSEC_RETRY_OBJECT_CASE_mm_auth_methods
#undef IPSEC_RETRY_OBJECT_CASE_transport_filter
#undef IPSEC_RETRY_OBJECT_CASE_tunnel_filter
#undef IPSEC_RETRY_OBJECT_CASE_mm_filter
#undef IPSEC_RETRY_OBJECT_CASE_none

}  // namespace ipsec_retry::detail::code_column
