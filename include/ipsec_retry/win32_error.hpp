// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: the Windows error-code model.
//
// Win32 codes (DWORD) and HRESULTs are distinct strong types so one is never passed where the
// other is meant. Both map into a single portable std::error_category, `win32_category()`, whose
// name()/message() work on every OS from a table of Microsoft's names and message texts.
//
// Values stored in a win32_category error_code ("normalized codes"):
//   * a Win32 code (0 .. 0xFFFF in practice), e.g. 13023;
//   * a failure HRESULT that is not FACILITY_WIN32, e.g. FWP_E_TIMEOUT = 0x80320012, stored as
//     the int with the same 32 bits.
// HRESULT_FROM_WIN32 values (0x8007xxxx) are normalized back to their Win32 code, so
// 0x800732DF and 13023 compare equal once turned into error codes. A failure HRESULT never
// normalizes to 0 (success): 0x80070000 stays 0x80070000.
#pragma once

#include <boost/outcome/std_result.hpp>
#include <ipsec_retry/detail/code_meaning.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace ipsec_retry {

namespace outcome = BOOST_OUTCOME_V2_NAMESPACE;

/// The library's one result alias: a value of T, or a std::error_code.
template <class T>
using result = outcome::std_result<T>;

/// A Win32 error code (a DWORD, as returned by GetLastError and the winipsec.dll API).
/// Any 32-bit value is valid; the named constants are the ones this library talks about.
enum class win32_error : std::uint32_t {
  success = 0,                                      // ERROR_SUCCESS
  file_not_found = 2,                               // ERROR_FILE_NOT_FOUND
  access_denied = 5,                                // ERROR_ACCESS_DENIED
  invalid_handle = 6,                               // ERROR_INVALID_HANDLE
  not_enough_memory = 8,                            // ERROR_NOT_ENOUGH_MEMORY
  invalid_data = 13,                                // ERROR_INVALID_DATA
  outofmemory = 14,                                 // ERROR_OUTOFMEMORY
  not_supported = 50,                               // ERROR_NOT_SUPPORTED
  invalid_parameter = 87,                           // ERROR_INVALID_PARAMETER
  call_not_implemented = 120,                       // ERROR_CALL_NOT_IMPLEMENTED
  mod_not_found = 126,                              // ERROR_MOD_NOT_FOUND
  proc_not_found = 127,                             // ERROR_PROC_NOT_FOUND
  busy = 170,                                       // ERROR_BUSY
  cancelled = 1223,                                 // ERROR_CANCELLED
  retry = 1237,                                     // ERROR_RETRY
  timeout = 1460,                                   // ERROR_TIMEOUT
  rpc_s_server_unavailable = 1722,                  // RPC_S_SERVER_UNAVAILABLE
  rpc_s_server_too_busy = 1723,                     // RPC_S_SERVER_TOO_BUSY
  rpc_s_call_failed = 1726,                         // RPC_S_CALL_FAILED
  rpc_s_call_failed_dne = 1727,                     // RPC_S_CALL_FAILED_DNE
  ept_s_not_registered = 1753,                      // EPT_S_NOT_REGISTERED
  rpc_s_cannot_support = 1764,                      // RPC_S_CANNOT_SUPPORT
  rpc_s_call_cancelled = 1818,                      // RPC_S_CALL_CANCELLED
  rpc_s_comm_failure = 1820,                        // RPC_S_COMM_FAILURE
  ipsec_qm_policy_exists = 13000,                   // ERROR_IPSEC_QM_POLICY_EXISTS
  ipsec_qm_policy_not_found = 13001,                // ERROR_IPSEC_QM_POLICY_NOT_FOUND
  ipsec_qm_policy_in_use = 13002,                   // ERROR_IPSEC_QM_POLICY_IN_USE
  ipsec_mm_policy_exists = 13003,                   // ERROR_IPSEC_MM_POLICY_EXISTS
  ipsec_mm_policy_not_found = 13004,                // ERROR_IPSEC_MM_POLICY_NOT_FOUND
  ipsec_mm_policy_in_use = 13005,                   // ERROR_IPSEC_MM_POLICY_IN_USE
  ipsec_mm_filter_pending_deletion = 13018,         // ERROR_IPSEC_MM_FILTER_PENDING_DELETION
  ipsec_transport_filter_pending_deletion = 13019,  // ERROR_IPSEC_TRANSPORT_FILTER_PENDING_DELETION
  ipsec_tunnel_filter_pending_deletion = 13020,     // ERROR_IPSEC_TUNNEL_FILTER_PENDING_DELETION
  ipsec_mm_policy_pending_deletion = 13021,         // ERROR_IPSEC_MM_POLICY_PENDING_DELETION
  ipsec_mm_auth_pending_deletion = 13022,           // ERROR_IPSEC_MM_AUTH_PENDING_DELETION
  ipsec_qm_policy_pending_deletion = 13023,         // ERROR_IPSEC_QM_POLICY_PENDING_DELETION
  warning_ipsec_mm_policy_pruned = 13024,           // WARNING_IPSEC_MM_POLICY_PRUNED
  warning_ipsec_qm_policy_pruned = 13025,           // WARNING_IPSEC_QM_POLICY_PRUNED
};

/// An HRESULT: bit 31 = failure (SEVERITY_ERROR), bits 16..26 = facility, bits 0..15 = code.
/// A strong type so an HRESULT is never mistaken for a Win32 code; e.g. hresult{0x800732DF}.
enum class hresult : std::uint32_t {
  s_ok = 0,
  e_fail = 0x80004005,
  fwp_e_timeout = 0x80320012,  // FWP_E_TIMEOUT
};

/// FACILITY_WIN32 (7): HRESULTs 0x8007xxxx wrap a Win32 code xxxx.
inline constexpr std::uint32_t facility_win32 = 7;
/// FACILITY_FWP (0x32): the FWP_E_* HRESULTs 0x8032xxxx.
inline constexpr std::uint32_t facility_fwp = 0x32;

/// The numeric value of a code.
constexpr std::uint32_t to_underlying(win32_error code) noexcept {
  return static_cast<std::uint32_t>(code);
}
constexpr std::uint32_t to_underlying(hresult code) noexcept {
  return static_cast<std::uint32_t>(code);
}

/// The Policy Agent's kinds of object (winipsec.dll), each with its own four codes.
enum class object_kind : std::uint8_t {
  qm_policy,
  mm_policy,
  mm_auth_methods,
  transport_filter,
  tunnel_filter,
  mm_filter
};

/// The codes by which the agent says an object exists, is not found, is used by a filter, or
/// is pending deletion. Filters have no IN_USE code: `in_use` is ERROR_SUCCESS (0) for them.
struct object_codes {
  win32_error exists;
  win32_error not_found;
  win32_error in_use;
  win32_error pending_deletion;
};

/// Which of an object's codes (the fields of object_codes) a code is.
enum class object_code_role : std::uint8_t { exists, not_found, in_use, pending_deletion };

/// The object a code belongs to, and which of its codes it is.
struct object_code {
  object_kind object;
  object_code_role role;
  friend constexpr bool operator==(object_code, object_code) noexcept = default;
};

namespace detail {
inline constexpr std::size_t object_kind_count = 6;

// codes_for's answers, gathered from the `object` and `role` columns of detail/code_table.inc
// at compile time.
constexpr std::array<object_codes, object_kind_count> gather_object_codes() noexcept {
  std::array<object_codes, object_kind_count> table{};
  using code_column::object;
  using code_column::role;
  const auto put = [&table](object o, role r, std::uint32_t value) {
    if (o == object::none || r == role::none) return;
    object_codes& codes = table[static_cast<std::size_t>(o)];
    win32_error* const fields[] = {&codes.exists, &codes.not_found, &codes.in_use,
                                   &codes.pending_deletion};
    *fields[static_cast<std::size_t>(r)] = win32_error{value};
  };
#define IPSEC_RETRY_CODE(name_, value_, kind_, retry_, load_, object_, role_, message_) \
  put(object::object_, role::role_, static_cast<std::uint32_t>(value_));
#include <ipsec_retry/detail/code_table.inc>
#undef IPSEC_RETRY_CODE
  return table;
}
inline constexpr std::array<object_codes, object_kind_count> object_code_table =
    gather_object_codes();

// Every object has an EXISTS, a NOT_FOUND and a PENDING_DELETION code; only filters lack IN_USE.
constexpr bool object_code_table_is_complete() noexcept {
  for (std::size_t k = 0; k < object_kind_count; ++k) {
    const object_codes& c = object_code_table[k];
    const bool filter = k >= static_cast<std::size_t>(code_column::object::transport_filter);
    if (c.exists == win32_error{} || c.not_found == win32_error{} ||
        c.pending_deletion == win32_error{} || (c.in_use == win32_error{}) != filter) {
      return false;
    }
  }
  return true;
}
static_assert(object_code_table_is_complete(),
              "code_table.inc: every object kind needs EXISTS, NOT_FOUND and PENDING_DELETION "
              "rows, and exactly the policies and auth methods an IN_USE row");
static_assert(static_cast<std::size_t>(object_kind::mm_filter) ==
                  static_cast<std::size_t>(code_column::object::mm_filter),
              "object_kind and the table's object column list the kinds in the same order");
}  // namespace detail

/// ERROR_IPSEC_{QM_POLICY,MM_POLICY,MM_AUTH,TRANSPORT_FILTER,TUNNEL_FILTER,MM_FILTER}_{EXISTS,
/// NOT_FOUND,IN_USE,PENDING_DELETION}: the `object` and `role` columns of detail/code_table.inc
/// (tests/win32_error_test.cpp checks the names against winerror.h). O(1): an array lookup.
constexpr object_codes codes_for(object_kind k) noexcept {
  return detail::object_code_table[static_cast<std::size_t>(k)];
}

/// The object whose EXISTS / NOT_FOUND / IN_USE / PENDING_DELETION code a normalized value is,
/// e.g. 13002 -> {qm_policy, in_use}; std::nullopt for every other code.
constexpr std::optional<object_code> object_code_of(std::uint32_t normalized) noexcept {
  const auto [object, role] = detail::code_column::object_role_of(normalized);
  if (object == detail::code_column::object::none) return std::nullopt;
  return object_code{static_cast<object_kind>(object), static_cast<object_code_role>(role)};
}

/// SUCCEEDED(hr): the severity bit (31) is clear.
constexpr bool succeeded(hresult code) noexcept {
  return (to_underlying(code) >> 31) == 0;
}
/// FAILED(hr): the severity bit (31) is set.
constexpr bool failed(hresult code) noexcept {
  return !succeeded(code);
}
/// HRESULT_FACILITY(hr) = (hr >> 16) & 0x1FFF.
constexpr std::uint32_t facility(hresult code) noexcept {
  return (to_underlying(code) >> 16) & 0x1FFFu;
}

/// HRESULT_FROM_WIN32(x), exactly as the Windows SDK macro:
///   (HRESULT)x <= 0 ? (HRESULT)x : 0x80000000 | (FACILITY_WIN32 << 16) | (x & 0xFFFF).
/// So 0 -> S_OK, 13023 -> 0x800732DF, and a value with bit 31 set passes through unchanged.
constexpr hresult hresult_from_win32(win32_error code) noexcept {
  const std::uint32_t x = to_underlying(code);
  if (x == 0 || (x >> 31) != 0) return hresult{x};
  return hresult{0x80000000u | (facility_win32 << 16) | (x & 0xFFFFu)};
}

/// The inverse of HRESULT_FROM_WIN32: S_OK -> ERROR_SUCCESS, 0x8007xxxx -> xxxx for xxxx != 0.
/// Any other HRESULT carries no Win32 code and gives std::nullopt: FWP_E_*, E_FAIL, S_FALSE,
/// a success HRESULT with FACILITY_WIN32 (0x00070005), and 0x80070000, a *failure* with
/// FACILITY_WIN32 and code 0, which HRESULT_FROM_WIN32 never produces (it maps 0 to S_OK) and
/// which therefore must not read back as ERROR_SUCCESS.
constexpr std::optional<win32_error> win32_from_hresult(hresult code) noexcept {
  const std::uint32_t x = to_underlying(code);
  if (x == 0) return win32_error::success;
  if ((x & 0xFFFF0000u) == (0x80000000u | (facility_win32 << 16)) && (x & 0xFFFFu) != 0) {
    return win32_error{x & 0xFFFFu};
  }
  return std::nullopt;
}

/// The normalized value of a Win32 code (the code itself).
constexpr std::uint32_t normalize(win32_error code) noexcept {
  return to_underlying(code);
}
/// The normalized value of an HRESULT: its Win32 code when it wraps one (S_OK -> 0,
/// 0x8007xxxx -> xxxx), otherwise the HRESULT's own 32 bits (FWP_E_* stay HRESULTs).
/// Rule: a failure HRESULT (bit 31 set) never normalizes to 0. 0x80070000 stays 0x80070000, a
/// code the library does not know, hence permanent. A success HRESULT other than S_OK keeps its
/// bits too, which read as a Win32 code (S_FALSE = 1 reads as ERROR_INVALID_FUNCTION): a caller
/// holding a success HRESULT decides success with succeeded() before normalizing.
constexpr std::uint32_t normalize(hresult code) noexcept {
  const auto win32 = win32_from_hresult(code);
  return win32 ? to_underlying(*win32) : to_underlying(code);
}

/// The portable Win32 error category: name() is "win32"; message() gives Microsoft's message
/// text for every code in the library's table (on Windows, FormatMessageW for the rest). Its
/// error_code values are normalized codes (see the top of this header). Defined once in src/.
///
/// Comparing with codes from elsewhere. On Windows, std::system_category() values are
/// GetLastError() codes, so the category declares the same value in either category equivalent
/// (std::error_category::equivalent, both overloads). The standard applies equivalence only
/// between an error_code and an error_condition; error_code == error_code compares category and
/// value exactly. So, to ask "is this the same Windows code?":
///
///   r.error().code == std::error_condition(126, std::system_category())   // true on Windows
///   std::error_code(126, std::system_category())
///       == make_error_condition(win32_error::mod_not_found)              // true on Windows
///   ec == win32_error::mod_not_found   // exact: true only for a win32_category code
///
/// Rule: compare against a *condition* (make_error_condition below, or a std::error_condition)
/// when the code may come from another category; compare error_codes only when both come from
/// this library. Elsewhere than Windows, system_category() holds errno values and nothing in it
/// is equivalent to a Windows code. The portable std::errc conditions keep working
/// (`make_error_code(win32_error::access_denied) == std::errc::permission_denied`).
const std::error_category& win32_category() noexcept;

/// An error_code in win32_category holding a normalized value.
inline std::error_code make_error_code(win32_error code) noexcept {
  return {static_cast<int>(normalize(code)), win32_category()};
}
inline std::error_code make_error_code(hresult code) noexcept {
  return {static_cast<int>(normalize(code)), win32_category()};
}

/// The same code as an error_condition in win32_category, for comparisons with error_codes of
/// any category (see win32_category()). Called explicitly: win32_error and hresult are error
/// *code* enums, and the standard forbids an enum being both, so `ec == win32_error::x` always
/// means the exact error_code comparison.
inline std::error_condition make_error_condition(win32_error code) noexcept {
  return {static_cast<int>(normalize(code)), win32_category()};
}
inline std::error_condition make_error_condition(hresult code) noexcept {
  return {static_cast<int>(normalize(code)), win32_category()};
}

/// The normalized Windows code behind an error_code, if it has one: its value for
/// win32_category (and, on Windows, std::system_category, whose values are Win32 codes);
/// std::nullopt for any other category (errno values are not Windows codes).
std::optional<std::uint32_t> windows_code(const std::error_code& code) noexcept;

/// How a table entry's value is spelled in winerror.h.
enum class code_kind : std::uint8_t { win32, hresult };

/// One entry of the library's code table.
struct code_info {
  std::string_view name;  ///< the winerror.h symbol, e.g. "ERROR_IPSEC_QM_POLICY_PENDING_DELETION"
  std::uint32_t value;    ///< normalized value, e.g. 13023 or 0x80320012
  code_kind kind;         ///< win32 for DWORD codes, hresult for FWP_E_*
  std::string_view
      message;  ///< Microsoft's message text, e.g. "The Quick Mode policy is pending deletion."
};

/// Every code the library knows, sorted by value. Static storage; never allocates.
std::span<const code_info> known_codes() noexcept;
/// The entry for a normalized value (binary search, O(log n)), or std::nullopt.
std::optional<code_info> find_code(std::uint32_t normalized_value) noexcept;
/// The entry for a symbolic name, case-sensitive ("ERROR_BUSY"), or std::nullopt.
std::optional<code_info> find_code(std::string_view name) noexcept;

/// Why a code could not be parsed (error_code values in code_parse_category()).
enum class code_parse_errc : int {
  empty = 1,     ///< nothing to parse
  not_a_number,  ///< neither a number nor a known symbolic name
  out_of_range,  ///< does not fit in 32 bits
  unknown_name,  ///< looks like a symbol (letters, '_') but is not in the table
};
const std::error_category& code_parse_category() noexcept;
inline std::error_code make_error_code(code_parse_errc e) noexcept {
  return {static_cast<int>(e), code_parse_category()};
}

/// Parses a code as users write it and returns its normalized value:
///   decimal ("13023"), hex ("0x32DF"), an HRESULT ("0x800732DF" -> 13023,
///   "0x80320012" stays 0x80320012), a negative decimal HRESULT ("-2147011873"), or a symbolic
///   name from the table ("ERROR_IPSEC_QM_POLICY_PENDING_DELETION", "FWP_E_TIMEOUT").
/// Surrounding blanks are ignored. Never allocates.
result<std::uint32_t> parse_code(std::string_view text) noexcept;

/// A code as a log line shows it: its name and value when the library knows it,
/// "ERROR_IPSEC_QM_POLICY_PENDING_DELETION (13023)", "FWP_E_TIMEOUT (0x80320012)", else the
/// number alone ("99999"). Allocates.
std::string to_string(win32_error code);
/// An HRESULT as a log line shows it: "0x800732DF (HRESULT_FROM_WIN32(
/// ERROR_IPSEC_QM_POLICY_PENDING_DELETION))", "FWP_E_TIMEOUT (0x80320012)", "S_OK (0x00000000)",
/// else "0x8000FFFF". Always eight hex digits. Allocates.
std::string to_string(hresult code);
/// Writes to_string(code).
std::ostream& operator<<(std::ostream& out, win32_error code);
std::ostream& operator<<(std::ostream& out, hresult code);

}  // namespace ipsec_retry

namespace std {
template <>
struct is_error_code_enum<ipsec_retry::win32_error> : true_type {};
template <>
struct is_error_code_enum<ipsec_retry::hresult> : true_type {};
template <>
struct is_error_code_enum<ipsec_retry::code_parse_errc> : true_type {};
}  // namespace std
