// SPDX-License-Identifier: BSL-1.0
// The settings texts of the guards (docs/protection.md): "max_tokens=10, token_ratio=0.1" for
// a retry budget, "failure_threshold=5, cool_down=30s" for a circuit breaker. One key table
// each drives parse, format, duplicates and the unknown-key hint (src/key_value.hpp).
#include <ipsec_retry/guards.hpp>

#include <charconv>
#include <cmath>
#include <string>
#include <utility>

#include "key_value.hpp"
#include "text.hpp"

namespace ipsec_retry {
namespace {

using detail::bad_value;
using detail::key_rule;
using detail::kv_item;
using detail::maybe_error;
using detail::shortest_decimal;

// ---- retry budget ----

template <double retry_budget::settings::*Field>
maybe_error parse_tokens(retry_budget::settings& s, const kv_item& item) {
  double value = 0;
  const auto [end, ec] =
      std::from_chars(item.value.data(), item.value.data() + item.value.size(), value);
  if (ec != std::errc{} || end != item.value.data() + item.value.size() || !std::isfinite(value)) {
    return bad_value(policy_errc::bad_value, item, "a decimal number");
  }
  s.*Field = value;
  return std::nullopt;
}
template <double retry_budget::settings::*Field>
bool format_tokens(const retry_budget::settings& s, std::string& out) {
  out += shortest_decimal(s.*Field);
  return true;
}

const std::array<key_rule<retry_budget::settings>, 2> budget_keys = {{
    {"max_tokens", parse_tokens<&retry_budget::settings::max_tokens>,
     format_tokens<&retry_budget::settings::max_tokens>},
    {"token_ratio", parse_tokens<&retry_budget::settings::token_ratio>,
     format_tokens<&retry_budget::settings::token_ratio>},
}};

std::int64_t milli(double tokens) noexcept {
  return std::llround(tokens * 1000.0);
}

// ---- circuit breaker ----

maybe_error parse_threshold(circuit_breaker::settings& s, const kv_item& item) {
  std::uint32_t n = 0;
  const auto [end, ec] =
      std::from_chars(item.value.data(), item.value.data() + item.value.size(), n);
  if (ec == std::errc::result_out_of_range) {
    return bad_value(policy_errc::out_of_range, item, "at most 4294967295");
  }
  if (ec != std::errc{} || end != item.value.data() + item.value.size()) {
    return bad_value(policy_errc::bad_value, item, "an integer >= 1");
  }
  s.failure_threshold = n;
  return std::nullopt;
}
bool format_threshold(const circuit_breaker::settings& s, std::string& out) {
  out += std::to_string(s.failure_threshold);
  return true;
}

maybe_error parse_cool_down(circuit_breaker::settings& s, const kv_item& item) {
  const auto parsed = parse_duration(item.value);
  if (!parsed) {
    return bad_value(parsed.error() == policy_errc::out_of_range ? policy_errc::out_of_range
                                                                 : policy_errc::bad_value,
                     item, "a duration: a number and a unit (ns, us, ms, s, min, h), e.g. 30s");
  }
  s.cool_down = parsed.value();
  return std::nullopt;
}
bool format_cool_down(const circuit_breaker::settings& s, std::string& out) {
  out += format_duration(s.cool_down);
  return true;
}

const std::array<key_rule<circuit_breaker::settings>, 2> breaker_keys = {{
    {"failure_threshold", parse_threshold, format_threshold},
    {"cool_down", parse_cool_down, format_cool_down},
}};

// Tokenizes, applies, validates with `make`, and points a validation error at the key the
// text gave (or at `partner` when it came later). The token of such an error stays the key
// the check is about.
template <class Settings, std::size_t N, class Make>
policy_result<Settings> parse_settings(std::string_view text, const Settings& base,
                                       const std::array<key_rule<Settings>, N>& keys,
                                       std::string_view noun, std::string_view partner_a,
                                       std::string_view partner_b, Make make) {
  auto items = detail::tokenize(text);
  if (!items) return std::move(items).assume_error();
  Settings s = base;
  detail::key_columns<N> seen{};
  if (auto e = detail::parse_items(items.value(), keys, noun, {}, s, seen)) return std::move(*e);
  auto made = make(s);
  if (made) return made;
  policy_error e = std::move(made).assume_error();
  const std::string_view partner =
      e.key == partner_a ? partner_b : (e.key == partner_b ? partner_a : std::string_view{});
  detail::locate(e, keys, seen, partner);
  return e;
}

policy_error invalid(policy_errc code, std::string_view key, std::string problem) {
  policy_error e = detail::error_at(code, 0, key, std::move(problem));
  e.key = std::string(key);
  return e;
}

}  // namespace

policy_result<retry_budget::settings> retry_budget::make(const settings& s) {
  if (!(s.max_tokens > 0.0 && s.max_tokens <= 1000.0)) {
    return invalid(policy_errc::out_of_range, "max_tokens",
                   "max_tokens must be in (0, 1000], got " + shortest_decimal(s.max_tokens));
  }
  if (!(s.token_ratio > 0.0 && s.token_ratio <= s.max_tokens) || milli(s.token_ratio) == 0) {
    return invalid(policy_errc::out_of_range, "token_ratio",
                   "token_ratio must be in [0.001, max_tokens = " + shortest_decimal(s.max_tokens) +
                       "], got " + shortest_decimal(s.token_ratio));
  }
  return s;
}

policy_result<retry_budget::settings> retry_budget::parse(std::string_view text) {
  return parse(text, settings{});
}

policy_result<retry_budget::settings> retry_budget::parse(std::string_view text,
                                                          const settings& base) {
  return parse_settings(text, base, budget_keys, "budget ", "max_tokens", "token_ratio",
                        [](const settings& s) { return make(s); });
}

std::string retry_budget::format(const settings& s) {
  return detail::format_items(budget_keys, s);
}

policy_result<circuit_breaker::settings> circuit_breaker::make(const settings& s) {
  if (s.failure_threshold == 0) {
    return invalid(policy_errc::out_of_range, "failure_threshold",
                   "failure_threshold must be >= 1 (the transport failures in a row that open "
                   "the breaker)");
  }
  if (s.cool_down <= std::chrono::nanoseconds::zero()) {
    return invalid(policy_errc::out_of_range, "cool_down",
                   "cool_down must be > 0: a breaker that never stays open protects nothing");
  }
  return s;
}

policy_result<circuit_breaker::settings> circuit_breaker::parse(std::string_view text) {
  return parse(text, settings{});
}

policy_result<circuit_breaker::settings> circuit_breaker::parse(std::string_view text,
                                                                const settings& base) {
  return parse_settings(text, base, breaker_keys, "breaker ", {}, {},
                        [](const settings& s) { return make(s); });
}

std::string circuit_breaker::format(const settings& s) {
  return detail::format_items(breaker_keys, s);
}

}  // namespace ipsec_retry
