// SPDX-License-Identifier: BSL-1.0
// Output helpers for the CLI: hex and code labels, human-readable durations, padding (and,
// through json.hpp, the JSON writer).
#pragma once

#include <ipsec_retry/win32_error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include "../text.hpp"
#include "json.hpp"

namespace ipsec_retry::cli {

using ipsec_retry::detail::code_number;
using ipsec_retry::detail::hex;

/// A code for a table row: its number (code_number) and, when the library knows it, its name,
/// e.g. "13023 ERROR_IPSEC_QM_POLICY_PENDING_DELETION", "0x80320012 FWP_E_TIMEOUT", "99999".
inline std::string code_label(std::uint32_t code) {
  std::string text = code_number(code);
  if (const auto info = find_code(code)) text += ' ' + std::string(info->name);
  return text;
}

/// A duration for people: the largest of s, ms, us, ns that is <= it, with at most three
/// decimals (rounded), e.g. 1270ms -> "1.27s", 19570818ns -> "19.571ms", 730ms -> "730ms".
/// Machine output (JSON) uses exact nanoseconds instead.
inline std::string human_duration(std::chrono::nanoseconds d) {
  const std::int64_t ns = d.count();
  if (ns == 0) return "0ms";
  // s, ms, us, ns: a person reads 90s better than 1.5min here.
  constexpr auto units = std::span(ipsec_retry::detail::duration_units).subspan<2>();
  static_assert(units.front().suffix == "s");
  // |ns| without overflow at INT64_MIN.
  const std::uint64_t magnitude =
      ns < 0 ? static_cast<std::uint64_t>(-(ns + 1)) + 1 : static_cast<std::uint64_t>(ns);
  for (std::size_t i = 0; i < std::size(units); ++i) {
    const auto size = static_cast<std::uint64_t>(units[i].ns);
    if (magnitude < size && size != 1) continue;
    std::uint64_t whole = magnitude / size;
    // Thousandths of the unit, rounded; the remainder is < 10^9 so this cannot overflow.
    std::uint64_t thousandths = ((magnitude % size) * 1000 + size / 2) / size;
    if (thousandths == 1000) {
      ++whole;
      thousandths = 0;
    }
    if (i > 0 && whole == 1000) return (ns < 0 ? "-1" : "1") + std::string(units[i - 1].suffix);
    std::string text = std::to_string(whole);
    if (thousandths != 0) {
      std::string digits = std::to_string(thousandths);
      digits.insert(0, 3 - digits.size(), '0');
      while (digits.back() == '0') digits.pop_back();
      text += '.' + digits;
    }
    return (ns < 0 ? "-" : "") + text + std::string(units[i].suffix);
  }
  return std::to_string(ns) + "ns";
}

/// `text` padded with blanks on the right to `width` characters (at least one blank).
inline std::string pad(std::string text, std::size_t width) {
  text.append(text.size() < width ? width - text.size() : 1, ' ');
  return text;
}

/// `text` right-aligned in `width` characters: blanks on the left (none when it is wider).
inline std::string pad_left(std::string text, std::size_t width) {
  if (text.size() < width) text.insert(0, width - text.size(), ' ');
  return text;
}

}  // namespace ipsec_retry::cli
