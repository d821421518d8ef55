// retry_policy: the policy string's parser (grammar: docs/policies.md).
#include <ipsec_retry/retry_policy.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "nearest_word.hpp"
#include "policy_rules.hpp"
#include "text.hpp"

namespace ipsec_retry {
namespace {

using detail::find_conflict;
using detail::is_code_key;
using detail::is_spelled_success_hresult;
using detail::is_success_code;
using detail::keys;
using detail::success_code_refusal;
using std::chrono::nanoseconds;

using detail::is_blank;

std::string_view trim(std::string_view s, std::size_t& offset) {
  while (!s.empty() && is_blank(s.front())) {
    s.remove_prefix(1);
    ++offset;
  }
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

using detail::error_at;

// The parser proper: one instance per parse() call.
class policy_parser {
 public:
  policy_parser(std::string_view text, const retry_settings& base) : text_(text), settings_(base) {}

  policy_result<retry_policy> run() {
    std::size_t pos = 0;
    std::size_t item_start = 0;
    bool any_item = false;
    while (true) {
      // Find the end of this item.
      std::size_t end = pos;
      while (end < text_.size() && text_[end] != ',' && text_[end] != ';') ++end;
      std::size_t offset = pos;
      const std::string_view item = trim(text_.substr(pos, end - pos), offset);
      const bool at_end = end >= text_.size();
      if (item.empty()) {
        if (!(at_end && !any_item)) {
          // "a=1,,b=2", "a=1," or ",a=1".
          // Point at the separator after the empty item, or at the trailing one.
          return error_at(policy_errc::syntax, at_end ? item_start + 1 : offset + 1,
                          text_.substr(item_start, 1),
                          at_end ? "expected key=value after the last separator"
                                 : "empty item: expected key=value before '" +
                                       std::string(1, text_[end]) + "'");
        }
      } else {
        any_item = true;
        if (auto failure = item_to_settings(item, offset)) return std::move(*failure);
      }
      if (at_end) break;
      item_start = end;
      pos = end + 1;
    }
    auto made = retry_policy::make(settings_);
    if (!made) {
      policy_error e = std::move(made).assume_error();
      locate(e);
      return e;
    }
    return made;
  }

 private:
  using maybe_error = std::optional<policy_error>;

  // make() names the key its check failed on (e.g. "initial"); the other key of the
  // contradiction is its partner. Point at whichever of the two the text gave last.
  void locate(policy_error& e) const {
    const auto column_of = [&](std::string_view key) -> std::size_t {
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (keys[i] == key) return seen_column_[i];
      }
      return 0;
    };
    static constexpr std::pair<std::string_view, std::string_view> partners[] = {
        {"initial", "max_delay"}, {"timeout", "attempts"}};
    std::string_view key = e.token;
    std::string_view partner;
    for (const auto& [a, b] : partners) {
      if (key == a) partner = b;
      if (key == b) partner = a;
    }
    if (is_code_key(key)) {
      if (const auto conflict = find_conflict(settings_.classify)) {
        partner = key == conflict->first ? conflict->second : conflict->first;
      }
    }
    std::size_t column = column_of(key);
    if (!partner.empty() && column_of(partner) > column) {
      key = partner;
      column = column_of(partner);
    }
    if (column == 0) return;
    e.token = std::string(key);
    e.column = column;
    e.message = "column " + std::to_string(column) + ": " + e.message;
  }

  maybe_error item_to_settings(std::string_view item, std::size_t offset) {
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return error_at(policy_errc::syntax, offset + 1, item,
                      "expected key=value, got '" + std::string(item) + "'");
    }
    std::size_t key_offset = offset;
    const std::string_view key = trim(item.substr(0, eq), key_offset);
    std::size_t value_offset = offset + eq + 1;
    const std::string_view value = trim(item.substr(eq + 1), value_offset);
    if (key.empty()) {
      return error_at(policy_errc::syntax, offset + 1, item, "missing key before '='");
    }
    const auto* found = std::find(keys.begin(), keys.end(), key);
    if (found == keys.end()) {
      return error_at(policy_errc::unknown_key, key_offset + 1, key,
                      "unknown key '" + std::string(key) + "' (did you mean '" +
                          std::string(detail::nearest_word(key, keys)) + "'?)");
    }
    const auto index = static_cast<std::size_t>(found - keys.begin());
    if (seen_column_[index] != 0) {
      return error_at(policy_errc::duplicate_key, key_offset + 1, key,
                      "duplicate key '" + std::string(key) + "' (first at column " +
                          std::to_string(seen_column_[index]) + ")");
    }
    seen_column_[index] = key_offset + 1;
    if (value.empty()) {
      return error_at(policy_errc::bad_value, value_offset + 1, item,
                      "missing value for '" + std::string(key) + "'");
    }
    return apply(key, value, value_offset + 1);
  }

  maybe_error bad(policy_errc code, std::size_t column, std::string_view key,
                  std::string_view value, std::string_view expected) {
    return error_at(code, column, value,
                    "bad value '" + std::string(value) + "' for '" + std::string(key) +
                        "': expected " + std::string(expected));
  }

  maybe_error duration(std::string_view key, std::string_view value, std::size_t column,
                       nanoseconds& out) {
    const auto parsed = parse_duration(value);
    if (!parsed) {
      return bad(parsed.error() == policy_errc::out_of_range ? policy_errc::out_of_range
                                                             : policy_errc::bad_value,
                 column, key, value,
                 parsed.error() == policy_errc::out_of_range
                     ? "a duration of at most about 292 years, in whole nanoseconds"
                     : "a duration: a number and a unit (ns, us, ms, s, min, h), e.g. 250ms");
    }
    out = parsed.value();
    return std::nullopt;
  }

  maybe_error decimal(std::string_view key, std::string_view value, std::size_t column,
                      double& out) {
    const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+';
    });
    double parsed = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (!plain || ec != std::errc{} || end != value.data() + value.size() ||
        !std::isfinite(parsed)) {
      return bad(policy_errc::bad_value, column, key, value, "a finite decimal number");
    }
    out = parsed;
    return std::nullopt;
  }

  // retry_on, never_retry or success_on: codes joined by '|'.
  maybe_error codes(std::string_view key, std::string_view value, std::size_t column) {
    classifier& c = settings_.classify;
    // A key given replaces the base's codes for that key; it does not add to them.
    if (key == "retry_on") {
      c.clear_retry_on();
    } else if (key == "never_retry") {
      c.clear_never_retry();
    } else {
      c.clear_success();
    }
    std::size_t pos = 0;
    while (true) {
      std::size_t end = value.find('|', pos);
      if (end == std::string_view::npos) end = value.size();
      std::size_t offset = pos;
      const std::string_view token = trim(value.substr(pos, end - pos), offset);
      const auto code = parse_code(token);
      if (!code) {
        return error_at(policy_errc::bad_value, column + offset, token.empty() ? value : token,
                        "bad code '" + std::string(token) + "' in '" + std::string(key) +
                            "': " + code.error().message() +
                            " (expected decimal, 0x hex, an HRESULT or a name like "
                            "ERROR_IPSEC_QM_POLICY_PENDING_DELETION, joined by '|')");
      }
      if (is_success_code(code.value()) || is_spelled_success_hresult(token, code.value())) {
        return error_at(policy_errc::out_of_range, column + offset, token,
                        success_code_refusal(key, code.value()));
      }
      const bool added = key == "retry_on"      ? c.retry_on(code.value())
                         : key == "never_retry" ? c.never_retry(code.value())
                                                : c.map_to_success(code.value());
      if (!added) {
        return error_at(policy_errc::out_of_range, column + offset, token,
                        "too many codes in '" + std::string(key) + "' (at most " +
                            std::to_string(code_set::capacity) + ")");
      }
      if (end == value.size()) break;
      pos = end + 1;
    }
    return std::nullopt;
  }

  maybe_error apply(std::string_view key, std::string_view value, std::size_t column) {
    retry_settings& s = settings_;
    if (key == "attempts") {
      if (value == "unlimited") {
        s.attempts.reset();
        return std::nullopt;
      }
      std::uint32_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc::result_out_of_range) {
        return bad(policy_errc::out_of_range, column, key, value, "at most 4294967295");
      }
      if (ec != std::errc{} || end != value.data() + value.size()) {
        return bad(policy_errc::bad_value, column, key, value, "an integer >= 1 or 'unlimited'");
      }
      if (n == 0) {
        return bad(policy_errc::out_of_range, column, key, value,
                   "an integer >= 1 (attempts counts calls, the first included)");
      }
      s.attempts = n;
      return std::nullopt;
    }
    if (key == "timeout") {
      if (value == "none") {
        s.timeout.reset();
        return std::nullopt;
      }
      nanoseconds d{};
      if (auto e = duration(key, value, column, d)) return e;
      s.timeout = d;
      return std::nullopt;
    }
    if (key == "backoff") {
      for (auto strategy : {backoff_strategy::constant, backoff_strategy::linear,
                            backoff_strategy::exponential, backoff_strategy::decorrelated}) {
        if (value == to_string(strategy)) {
          s.delays.strategy = strategy;
          return std::nullopt;
        }
      }
      return bad(policy_errc::bad_value, column, key, value,
                 "constant, linear, exponential or decorrelated");
    }
    if (key == "initial") return duration(key, value, column, s.delays.initial);
    if (key == "max_delay") return duration(key, value, column, s.delays.max_delay);
    if (key == "step") {
      nanoseconds d{};
      if (auto e = duration(key, value, column, d)) return e;
      s.delays.step = d;
      return std::nullopt;
    }
    if (key == "multiplier") {
      double m = 0;
      if (auto e = decimal(key, value, column, m)) return e;
      if (m < 1.0) return bad(policy_errc::out_of_range, column, key, value, "a number >= 1");
      s.delays.multiplier = m;
      return std::nullopt;
    }
    if (key == "jitter") {
      if (value == "none") {
        s.delays.jitter = jitter_mode::none;
      } else if (value == "full") {
        s.delays.jitter = jitter_mode::full;
      } else if (value == "equal") {
        s.delays.jitter = jitter_mode::equal;
      } else if (value.back() == '%') {
        double n = 0;
        if (auto e = decimal(key, value.substr(0, value.size() - 1), column, n)) {
          return bad(policy_errc::bad_value, column, key, value,
                     "none, full, equal or N% with 0 < N <= 100");
        }
        if (!(n > 0.0 && n <= 100.0)) {
          return bad(policy_errc::out_of_range, column, key, value, "N% with 0 < N <= 100");
        }
        s.delays.jitter = jitter_mode::proportional;
        s.delays.jitter_percent = n;
      } else {
        return bad(policy_errc::bad_value, column, key, value,
                   "none, full, equal or N% with 0 < N <= 100");
      }
      return std::nullopt;
    }
    if (is_code_key(key)) return codes(key, value, column);
    if (key == "idempotent") {
      if (value == "yes") {
        s.classify.set_idempotency(idempotency::idempotent);
      } else if (value == "no") {
        s.classify.set_idempotency(idempotency::non_idempotent);
      } else {
        return bad(policy_errc::bad_value, column, key, value, "yes or no");
      }
      return std::nullopt;
    }
    if (key == "at_deadline") {
      if (value == "final_call") {
        s.on_deadline = at_deadline::final_call;
      } else if (value == "give_up") {
        s.on_deadline = at_deadline::give_up;
      } else {
        return bad(policy_errc::bad_value, column, key, value, "final_call or give_up");
      }
      return std::nullopt;
    }
    // key == "seed"
    std::uint64_t seed = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seed);
    if (ec == std::errc::result_out_of_range) {
      return bad(policy_errc::out_of_range, column, key, value, "at most 18446744073709551615");
    }
    if (ec != std::errc{} || end != value.data() + value.size()) {
      return bad(policy_errc::bad_value, column, key, value, "an unsigned integer");
    }
    s.seed = seed;
    return std::nullopt;
  }

  std::string_view text_;
  retry_settings settings_;
  std::array<std::size_t, keys.size()> seen_column_{};  // 0 = not seen
};

}  // namespace

policy_result<retry_policy> retry_policy::parse(std::string_view text) {
  return policy_parser{text, retry_settings{}}.run();
}

policy_result<retry_policy> retry_policy::parse(std::string_view text, const retry_policy& base) {
  return policy_parser{text, base.settings()}.run();
}

}  // namespace ipsec_retry
