// SPDX-License-Identifier: BSL-1.0
// What the policy string's parser and retry_policy::make() share: the key table, and the rules
// on the code lists (retry_on, never_retry, success_on). Internal.
#pragma once

#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "key_value.hpp"
#include "text.hpp"

namespace ipsec_retry::detail {

// The policy string's key table (src/policy_keys.cpp), in the order format() writes it.
inline constexpr std::size_t policy_key_count = 14;
extern const std::array<key_rule<retry_settings>, policy_key_count> policy_keys;

/// Applies `items` (tokenize()) over `base` and validates the result with make(); a
/// validation error points at the key the text gave (locate()). `other_keys`: keys of the same
/// text that another grammar reads (a site line's budget=, breaker=), for "did you mean".
policy_result<retry_policy> parse_policy_items(std::span<const kv_item> items,
                                               const retry_settings& base,
                                               std::span<const std::string_view> other_keys = {});

// What no site may list in retry_on, never_retry or success_on: ERROR_SUCCESS (0, also S_OK) in
// any spelling, and in the policy string a success HRESULT written out as one (0x + 8 hex
// digits, bit 31 clear, a facility above the 16 bits of a Win32 code: 0x00070005). Listing
// either would turn the op's success into a failure whose code is falsy or reads as success.
// Any other positive value is a Win32 code, as an op's `long` is (docs/policies.md), hence a
// failure; S_FALSE (1) cannot be told from ERROR_INVALID_FUNCTION and is not refused.
constexpr bool is_success_code(std::uint32_t normalized) noexcept {
  return normalized == 0;
}
constexpr bool is_spelled_success_hresult(std::string_view token, std::uint32_t value) noexcept {
  return token.size() == 10 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X') &&
         value > 0xFFFFu && (value >> 31) == 0;
}

// "retry_on cannot list ERROR_SUCCESS (0): a success code cannot be retried"
inline std::string success_code_refusal(std::string_view key, std::uint32_t code) {
  std::string text = std::string(key) + " cannot list ";
  if (code == 0) {
    text += "ERROR_SUCCESS (0)";
  } else {
    text += "the success HRESULT " + hex(code, 8);
  }
  if (key == "retry_on") return text + ": a success code cannot be retried";
  if (key == "never_retry") return text + ": a success code cannot be made a permanent failure";
  return text + ": it is a success code already";
}

// A code listed under two of retry_on, never_retry and success_on.
struct code_conflict {
  std::uint32_t code;
  std::string_view first;   // the key earlier in format() order
  std::string_view second;  // the key the error is about
};

inline std::optional<code_conflict> find_conflict(const classifier& c) {
  const std::pair<std::string_view, const code_set*> lists[] = {
      {"retry_on", &c.retry_on_codes()},
      {"never_retry", &c.never_retry_codes()},
      {"success_on", &c.success_codes()}};
  for (std::size_t i = 0; i < std::size(lists); ++i) {
    for (std::size_t j = i + 1; j < std::size(lists); ++j) {
      for (std::uint32_t code : lists[i].second->codes()) {
        if (lists[j].second->contains(code)) {
          return code_conflict{code, lists[i].first, lists[j].first};
        }
      }
    }
  }
  return std::nullopt;
}

constexpr bool is_code_key(std::string_view key) noexcept {
  return key == "retry_on" || key == "never_retry" || key == "success_on";
}

}  // namespace ipsec_retry::detail
