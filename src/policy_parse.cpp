// SPDX-License-Identifier: BSL-1.0
// retry_policy: the policy string's parse and format (grammar: docs/policies.md), both driven
// by the key table of src/policy_keys.cpp.
#include <ipsec_retry/retry_policy.hpp>

#include <string>
#include <utility>

#include "key_value.hpp"
#include "policy_rules.hpp"

namespace ipsec_retry {

namespace detail {

policy_result<retry_policy> parse_policy_items(std::span<const kv_item> items,
                                               const retry_settings& base,
                                               std::span<const std::string_view> other_keys) {
  retry_settings settings = base;
  key_columns<policy_key_count> seen{};
  if (auto e = parse_items(items, policy_keys, "", other_keys, settings, seen)) {
    return std::move(*e);
  }
  auto made = retry_policy::make(settings);
  if (made) return made;
  // make() names the key its check failed on (e.g. "initial"); the other key of the
  // contradiction is its partner. Point at whichever of the two the text gave last.
  policy_error e = std::move(made).assume_error();
  static constexpr std::pair<std::string_view, std::string_view> partners[] = {
      {"initial", "max_delay"}, {"timeout", "attempts"}};
  std::string_view partner;
  for (const auto& [a, b] : partners) {
    if (e.key == a) partner = b;
    if (e.key == b) partner = a;
  }
  if (is_code_key(e.key)) {
    if (const auto conflict = find_conflict(settings.classify)) {
      partner = e.key == conflict->first ? conflict->second : conflict->first;
    }
  }
  const std::string_view located = locate(e, policy_keys, seen, partner);
  if (!located.empty()) e.token = std::string(located);
  return e;
}

}  // namespace detail

policy_result<retry_policy> retry_policy::parse(std::string_view text) {
  return parse(text, retry_policy{});
}

policy_result<retry_policy> retry_policy::parse(std::string_view text, const retry_policy& base) {
  auto items = detail::tokenize(text);
  if (!items) return std::move(items).assume_error();
  return detail::parse_policy_items(items.value(), base.settings());
}

std::string retry_policy::format() const {
  return detail::format_items(detail::policy_keys, settings_);
}

}  // namespace ipsec_retry
