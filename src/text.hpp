// Blanks and trimming shared by the text parsers (policy strings, budget settings,
// configuration lines), so all of them accept the same spacing. Internal.
#pragma once

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

}  // namespace ipsec_retry::detail
