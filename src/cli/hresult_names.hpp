// SPDX-License-Identifier: BSL-1.0
// HRESULT names that the library's code table cannot hold, for `ipsec-retry explain`.
//
// The table (src/code_table.inc) is keyed by normalized value, and these HRESULTs normalize to
// another entry's value: S_OK is 0 (ERROR_SUCCESS), E_ACCESSDENIED = HRESULT_FROM_WIN32(5) is 5
// (ERROR_ACCESS_DENIED), and S_FALSE's bits, 1, are ERROR_INVALID_FUNCTION's. So they are known
// here by name, with their own 32 bits. Values: mingw-w64 winerror.h (checked by
// tests/cli_test.cpp). Messages: the Windows SDK winerror.h MessageText; S_OK and S_FALSE have
// none there, so S_OK gets FormatMessage's text for 0 and S_FALSE a description.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>

namespace ipsec_retry::cli {

struct hresult_name {
  std::string_view name;
  std::uint32_t bits;  ///< the HRESULT itself, not normalized
  std::string_view message;
};

inline constexpr hresult_name hresult_names[] = {
    {"S_OK", 0x00000000u, "The operation completed successfully."},
    {"S_FALSE", 0x00000001u,
     "Success, with a false or partial result (S_FALSE has no message text in winerror.h)."},
    {"E_ACCESSDENIED", 0x80070005u, "General access denied error"},
    {"E_HANDLE", 0x80070006u, "Invalid handle"},
    {"E_OUTOFMEMORY", 0x8007000Eu, "Ran out of memory"},
    {"E_INVALIDARG", 0x80070057u, "One or more arguments are invalid"},
};

/// The entry named `name` (case-sensitive, as winerror.h spells it), if any.
constexpr std::optional<hresult_name> find_hresult_name(std::string_view name) noexcept {
  for (const hresult_name& h : hresult_names) {
    if (h.name == name) return h;
  }
  return std::nullopt;
}

}  // namespace ipsec_retry::cli
