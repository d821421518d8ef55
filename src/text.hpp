// SPDX-License-Identifier: BSL-1.0
// What the text code of src/ shares (the CLI too, header-only parts): one notion of blanks, so
// every parser accepts the same spacing; one way to write hex, a code's number, a double, and
// one table of duration units (the parsers' one tokenizer and errors: src/key_value.hpp). Internal.
#pragma once

#include <ipsec_retry/retry_policy.hpp>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ipsec_retry::detail {

/// Space, tab, and the CR / LF a configuration file or an environment variable may carry.
constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

constexpr std::string_view trim_front(std::string_view s) noexcept {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

constexpr std::string_view trim(std::string_view s) noexcept {
  s = trim_front(s);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

/// "0x" and upper-case hex digits of `value`, at least `min_digits` of them (zero-padded), e.g.
/// hex(0x32DF) = "0x32DF", hex(0x32DF, 8) = "0x000032DF", hex(0x1869F, 4) = "0x1869F".
inline std::string hex(std::uint32_t value, int min_digits = 1) {
  constexpr char alphabet[] = "0123456789ABCDEF";
  int digits = min_digits < 1 ? 1 : min_digits;
  while (digits < 8 && (value >> (digits * 4)) != 0) ++digits;
  std::string out = "0x";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out += alphabet[(value >> shift) & 0xFu];
  }
  return out;
}

/// A code's number as every message writes it: decimal, or hex (0x + 8 digits) when bit 31 is
/// set (an HRESULT), e.g. "13023", "0x80320012".
inline std::string code_number(std::uint32_t code) {
  return (code >> 31) != 0 ? hex(code, 8) : std::to_string(code);
}

/// The shortest decimal that reads back as the same double ("0.1", "5000", "nan", "inf").
inline std::string shortest_decimal(double value) {
  std::array<char, 32> buffer{};  // the longest shortest form, "-2.2250738585072014e-308", fits
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

/// The duration units of policy strings and messages, largest first.
struct duration_unit {
  std::string_view suffix;
  std::int64_t ns;
};
inline constexpr std::array<duration_unit, 6> duration_units = {{{"h", 3'600'000'000'000},
                                                                 {"min", 60'000'000'000},
                                                                 {"s", 1'000'000'000},
                                                                 {"ms", 1'000'000},
                                                                 {"us", 1'000},
                                                                 {"ns", 1}}};

/// A normalized code as the policy string writes it: its name when the library knows it,
/// otherwise decimal, or 0x + upper-case hex when bit 31 is set (src/policy_format.cpp).
std::string format_code(std::uint32_t code);

}  // namespace ipsec_retry::detail
