// A minimal JSON writer for the CLI's --json output (strings escaped per RFC 8259).
#pragma once

#include <cstdint>
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

}  // namespace ipsec_retry::cli
