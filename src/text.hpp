// SPDX-License-Identifier: BSL-1.0
// What the text parsers (policy strings, budget settings, configuration lines) share: one
// notion of blanks, so all of them accept the same spacing. (Their one tokenizer and error
// builders: src/key_value.hpp.) Internal.
#pragma once

#include <ipsec_retry/retry_policy.hpp>

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

/// A normalized code as the policy string writes it: its name when the library knows it,
/// otherwise decimal, or 0x + upper-case hex when bit 31 is set (src/policy_format.cpp).
std::string format_code(std::uint32_t code);
/// Upper-case hex digits of `value`, without 0x and without leading zeros.
std::string hex_upper(std::uint32_t value);

}  // namespace ipsec_retry::detail
