// SPDX-License-Identifier: BSL-1.0
// The `key=value, key=value` tokenizer (src/key_value.hpp).
#include "key_value.hpp"

#include <array>
#include <charconv>
#include <utility>

#include "text.hpp"

namespace ipsec_retry::detail {

policy_error error_at(policy_errc code, std::size_t column, std::string_view token,
                      std::string problem) {
  policy_error e{};
  e.code = code;
  e.column = column;
  e.token = std::string(token);
  e.problem = std::move(problem);
  return e;
}

policy_error bad_value(policy_errc code, const kv_item& item, std::string_view expected) {
  policy_error e =
      error_at(code, item.value_column, item.value,
               "bad value '" + std::string(item.value) + "' for '" + std::string(item.key) + "'");
  e.key = std::string(item.key);
  e.expected = std::string(expected);
  return e;
}

policy_result<kv_items> tokenize(std::string_view text, std::size_t first_column) {
  kv_items items;
  if (trim(text).empty()) return items;
  const auto column_at = [&](std::size_t index) { return first_column + index; };
  const auto index_of = [&](std::string_view part) {
    return static_cast<std::size_t>(part.data() - text.data());
  };
  std::size_t pos = 0;
  while (true) {
    std::size_t end = text.find_first_of(",;", pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = trim(text.substr(pos, end - pos));
    if (item.empty()) {
      // Point at the separator after the empty item, or at the trailing one (pos > 0 here:
      // a blank text has returned above).
      if (end < text.size()) {
        return error_at(
            policy_errc::syntax, column_at(end), text.substr(end, 1),
            "empty item: expected key=value before '" + std::string(1, text[end]) + "'");
      }
      return error_at(policy_errc::syntax, column_at(pos - 1), text.substr(pos - 1, 1),
                      "expected key=value after the last separator");
    }
    const std::size_t column = column_at(index_of(item));
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return error_at(policy_errc::syntax, column, item,
                      "expected key=value, got '" + std::string(item) + "'");
    }
    const std::string_view key = trim(item.substr(0, eq));
    if (key.empty()) return error_at(policy_errc::syntax, column, item, "missing key before '='");
    const std::string_view value = trim(item.substr(eq + 1));
    const std::size_t value_column = value.empty() ? column + eq + 1 : column_at(index_of(value));
    items.push_back(kv_item{item, key, value, column, value_column});
    if (end == text.size()) break;
    pos = end + 1;
  }
  return items;
}

}  // namespace ipsec_retry::detail
