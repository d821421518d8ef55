// SPDX-License-Identifier: BSL-1.0
// The `key=value, key=value` shape every text of the library has (policy strings, budget and
// breaker settings, a site's line, an environment variable): one tokenizer, and the key tables
// that drive each grammar's parse, format, duplicate check and "did you mean". Internal.
//
// A grammar is a table of key_rule rows, in the order format() writes them. Adding a key to a
// grammar means adding its field and one row (its name, how to read its value, how to write
// it); parse_items(), format_items() and locate() need no change.
#pragma once

#include <ipsec_retry/retry_policy.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nearest_word.hpp"

namespace ipsec_retry::detail {

/// One `key=value` item. Columns count from 1 in the text the user sees (for a site's line,
/// the whole line, not only what follows the ':').
struct kv_item {
  std::string_view text;         ///< the item, blanks trimmed
  std::string_view key;          ///< blanks trimmed; never empty
  std::string_view value;        ///< blanks trimmed; empty for "timeout="
  std::size_t column = 0;        ///< of the item, which is that of its key
  std::size_t value_column = 0;  ///< of the value; for an empty one, just after the '='
};
using kv_items = std::vector<kv_item>;

/// Splits `text` at ',' and ';' into items; blanks (text.hpp) around tokens are ignored and a
/// blank text has no items. `first_column` is the column of text[0]. Errors (syntax), with the
/// column of the token at fault: an empty item or a trailing separator (the separator), an
/// item without '=' or with nothing before it (the item).
policy_result<kv_items> tokenize(std::string_view text, std::size_t first_column = 1);

/// An error at `column` (0: no position) whose problem is `problem`.
policy_error error_at(policy_errc code, std::size_t column, std::string_view token,
                      std::string problem);
/// "bad value 'V' for 'K': expected E", at the value.
policy_error bad_value(policy_errc code, const kv_item& item, std::string_view expected);

using maybe_error = std::optional<policy_error>;

/// One key of a grammar over `Target` (the settings the text sets).
template <class Target>
struct key_rule {
  std::string_view key;
  /// Reads the item's value (never empty) into the target; the error names the value.
  maybe_error (*parse)(Target&, const kv_item&);
  /// Writes the key's value for format(); false leaves the key out.
  bool (*format)(const Target&, std::string& out);
};

/// Where the text gave each key of a table (by row): its column, 0 when not given.
template <std::size_t N>
using key_columns = std::array<std::size_t, N>;

/// Applies `items` to `target` through `keys`. `noun` names the grammar in the unknown-key
/// message ("unknown budget key 'x'"; "" for the policy string). Decision rule for the hint:
/// a grammar of at most three keys lists them all, a longer one suggests the nearest key
/// among `keys` and `other_keys` (keys the same text may hold that another grammar reads, such
/// as a site line's budget=). Duplicates (by row) and missing values are refused here.
template <class Target, std::size_t N>
maybe_error parse_items(std::span<const kv_item> items, const std::array<key_rule<Target>, N>& keys,
                        std::string_view noun, std::span<const std::string_view> other_keys,
                        Target& target, key_columns<N>& seen) {
  for (const kv_item& item : items) {
    std::size_t row = 0;
    while (row < N && keys[row].key != item.key) ++row;
    if (row == N) {
      policy_error e =
          error_at(policy_errc::unknown_key, item.column, item.key,
                   "unknown " + std::string(noun) + "key '" + std::string(item.key) + "'");
      std::vector<std::string_view> names;
      for (const auto& rule : keys) names.push_back(rule.key);
      names.insert(names.end(), other_keys.begin(), other_keys.end());
      if (names.size() <= 3) {
        for (std::size_t i = 0; i < names.size(); ++i) {
          if (i != 0) e.expected += i + 1 == names.size() ? " or " : ", ";
          e.expected += names[i];
        }
      } else {
        e.suggestion = std::string(nearest_word(item.key, names));
      }
      return e;
    }
    if (seen[row] != 0) {
      policy_error e = error_at(policy_errc::duplicate_key, item.column, item.key,
                                "duplicate key '" + std::string(item.key) + "'");
      e.key = std::string(item.key);
      e.first_column = seen[row];
      return e;
    }
    seen[row] = item.column;
    if (item.value.empty()) {
      policy_error e = error_at(policy_errc::bad_value, item.value_column, item.text,
                                "missing value for '" + std::string(item.key) + "'");
      e.key = std::string(item.key);
      return e;
    }
    if (auto e = keys[row].parse(target, item)) {
      if (e->key.empty()) e->key = std::string(item.key);
      return e;
    }
  }
  return std::nullopt;
}

/// "key=value, key=value" in table order, leaving out the keys whose format() says so.
template <class Target, std::size_t N>
std::string format_items(const std::array<key_rule<Target>, N>& keys, const Target& target) {
  std::string out;
  std::string value;
  for (const auto& rule : keys) {
    value.clear();
    if (!rule.format(target, value)) continue;
    if (!out.empty()) out += ", ";
    out += rule.key;
    out += '=';
    out += value;
  }
  return out;
}

/// Gives a validation error (no column; e.key names the key the check is about) the column
/// where the text gave that key, or `partner` (the other key of the contradiction, "" if none)
/// when the text gave it later: the later of the two is the one that made them contradict.
/// Returns the key pointed at; nothing changes when the text gave neither.
template <class Target, std::size_t N>
std::string_view locate(policy_error& e, const std::array<key_rule<Target>, N>& keys,
                        const key_columns<N>& seen, std::string_view partner) {
  const auto column_of = [&](std::string_view key) -> std::size_t {
    for (std::size_t row = 0; row < N; ++row) {
      if (keys[row].key == key) return seen[row];
    }
    return 0;
  };
  std::string_view key = e.key;
  std::size_t column = column_of(key);
  if (!partner.empty() && column_of(partner) > column) {
    key = partner;
    column = column_of(partner);
  }
  if (column == 0) return {};
  e.column = column;
  return key;
}

}  // namespace ipsec_retry::detail
