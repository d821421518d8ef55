// SPDX-License-Identifier: BSL-1.0
// Output helpers for the CLI: JSON string escaping (RFC 8259), hex, human-readable durations.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace ipsec_retry::cli {

/// `text` as a JSON string literal, quotes included.
inline std::string json_string(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20) {
          constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[u >> 4];
          out += hex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

/// "0x" and uppercase hex digits of `value`, at least `digits` of them (zero-padded), e.g.
/// hex(0x32DF, 4) = "0x32DF", hex(0x1869F, 4) = "0x1869F".
inline std::string hex(std::uint32_t value, int digits) {
  constexpr char alphabet[] = "0123456789ABCDEF";
  while (digits < 8 && (value >> (digits * 4)) != 0) ++digits;
  std::string out = "0x";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out += alphabet[(value >> shift) & 0xFu];
  }
  return out;
}

/// A duration for people: the largest of s, ms, us, ns that is <= it, with at most three
/// decimals (rounded), e.g. 1270ms -> "1.27s", 19570818ns -> "19.571ms", 730ms -> "730ms".
/// Machine output (JSON) uses exact nanoseconds instead.
inline std::string human_duration(std::chrono::nanoseconds d) {
  const std::int64_t ns = d.count();
  if (ns == 0) return "0ms";
  struct unit {
    std::int64_t ns;
    const char* suffix;
  };
  constexpr unit units[] = {{1'000'000'000, "s"}, {1'000'000, "ms"}, {1'000, "us"}, {1, "ns"}};
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
    return (ns < 0 ? "-" : "") + text + units[i].suffix;
  }
  return std::to_string(ns) + "ns";
}

/// `text` padded with blanks on the right to `width` characters (at least one blank).
inline std::string pad(std::string text, std::size_t width) {
  text.append(text.size() < width ? width - text.size() : 1, ' ');
  return text;
}

}  // namespace ipsec_retry::cli
