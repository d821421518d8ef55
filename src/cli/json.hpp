// SPDX-License-Identifier: BSL-1.0
// The CLI's JSON (RFC 8259): string escaping, and one writer of objects and arrays that every
// --json output goes through. Compact: no blanks between tokens, keys in the order written.
//
//   json_writer json(out);
//   json.begin_object().field("valid", true).field("policy", text);
//   json.key("calls").begin_array().value(1).value(2).end_array();
//   json.end_object();   // {"valid":true,"policy":"...","calls":[1,2]}
#pragma once

#include <concepts>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

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

/// Writes one JSON value to a stream as it is built: the commas between members and elements
/// are its business, the order and the nesting the caller's (begin/end must pair up).
class json_writer {
 public:
  explicit json_writer(std::ostream& out) : out_(out) {}

  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }

  /// An object member's name; its value comes next.
  json_writer& key(std::string_view name) {
    separate();
    out_ << json_string(name) << ':';
    after_key_ = true;
    return *this;
  }

  json_writer& value(std::string_view text) { return token(json_string(text)); }
  json_writer& value(const char* text) { return value(std::string_view(text)); }
  json_writer& value(const std::string& text) { return value(std::string_view(text)); }
  json_writer& value(bool b) { return token(b ? "true" : "false"); }
  template <std::integral T>
  requires(!std::same_as<T, bool>) json_writer& value(T n) {
    separate();
    out_ << +n;  // a char-sized integer as a number, not a character
    return *this;
  }
  /// The value, or null without one.
  template <class T>
  json_writer& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  json_writer& null() { return token("null"); }

  /// key(name), then value(v).
  template <class T>
  json_writer& field(std::string_view name, const T& v) {
    return key(name).value(v);
  }

 private:
  // A comma before every member or element but the first of its object or array; none right
  // after a key.
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ << ',';
      first_.back() = false;
    }
  }
  json_writer& token(std::string_view text) {
    separate();
    out_ << text;
    return *this;
  }
  json_writer& open(char bracket) {
    separate();
    out_ << bracket;
    first_.push_back(true);
    return *this;
  }
  json_writer& close(char bracket) {
    if (!first_.empty()) first_.pop_back();
    out_ << bracket;
    return *this;
  }

  std::ostream& out_;
  std::vector<bool> first_;  // per open object or array: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace ipsec_retry::cli
