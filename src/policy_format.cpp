// SPDX-License-Identifier: BSL-1.0
// retry_policy: durations and codes as the policy string spells them. (The normalized policy
// string itself is written by the key table: src/policy_parse.cpp.)
#include <ipsec_retry/retry_policy.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <string>

#include "text.hpp"

namespace ipsec_retry {
namespace {

using std::chrono::nanoseconds;

// A decimal "123", "1.5", ".5" (no sign, no exponent) times `unit`, exactly, into `out`; false
// on junk or int64 overflow. `inexact` is set when digits finer than 1/unit were non-zero.
bool scaled_decimal(std::string_view text, std::int64_t unit, std::int64_t& out, bool& inexact) {
  inexact = false;
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return false;
  const auto digits_only = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits_only(whole) || !digits_only(fraction)) return false;
  if (dot != std::string_view::npos && fraction.empty()) return false;  // "1." is junk

  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::int64_t value = 0;
  for (char c : whole) {
    const std::int64_t digit = c - '0';
    if (value > (max - digit) / 10) return false;
    value = value * 10 + digit;
  }
  if (value > max / unit) return false;
  value *= unit;
  // Fraction digits: each contributes unit / 10^i, which must stay exact.
  std::int64_t place = unit;
  for (char c : fraction) {
    const std::int64_t digit = c - '0';
    if (place == 0 || place % 10 != 0) {  // finer than one nanosecond
      if (digit != 0) inexact = true;
      place = 0;
      continue;
    }
    place /= 10;
    if (value > max - digit * place) return false;
    value += digit * place;
  }
  out = value;
  return true;
}

struct unit_spec {
  std::string_view suffix;
  std::int64_t ns;
};
// Longest suffix first so "ms" is not read as "s" and "min" not as "in".
constexpr std::array<unit_spec, 6> units = {{{"min", 60'000'000'000},
                                             {"ns", 1},
                                             {"us", 1'000},
                                             {"ms", 1'000'000},
                                             {"s", 1'000'000'000},
                                             {"h", 3'600'000'000'000}}};

}  // namespace

namespace detail {

std::string format_code(std::uint32_t code) {
  if (const auto info = find_code(code)) return std::string(info->name);
  if ((code >> 31) != 0) return hex(code);
  return std::to_string(code);
}

}  // namespace detail

result<nanoseconds> parse_duration(std::string_view text) noexcept {
  for (const auto& unit : units) {
    if (text.size() > unit.suffix.size() &&
        text.substr(text.size() - unit.suffix.size()) == unit.suffix) {
      const std::string_view number = text.substr(0, text.size() - unit.suffix.size());
      std::int64_t ns = 0;
      bool inexact = false;
      if (!scaled_decimal(number, unit.ns, ns, inexact)) {
        // Distinguish "too big" from junk: digits and at most one dot means overflow.
        const bool numeric =
            !number.empty() &&
            std::all_of(number.begin(), number.end(),
                        [](char c) { return (c >= '0' && c <= '9') || c == '.'; }) &&
            std::count(number.begin(), number.end(), '.') <= 1 && number.back() != '.';
        return numeric ? policy_errc::out_of_range : policy_errc::bad_value;
      }
      if (inexact) return policy_errc::bad_value;  // finer than a nanosecond
      return nanoseconds{ns};
    }
  }
  return policy_errc::bad_value;
}

std::string format_duration(nanoseconds d) {
  const std::int64_t ns = d.count();
  if (ns == 0) return "0ms";
  for (const auto& unit : detail::duration_units) {
    if (ns % unit.ns == 0) return std::to_string(ns / unit.ns) + std::string(unit.suffix);
  }
  return std::to_string(ns) + "ns";
}

}  // namespace ipsec_retry
