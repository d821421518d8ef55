// retry_policy: validation, and the policy string's parser and formatter.
#include <ipsec_retry/retry_policy.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "nearest_word.hpp"
#include "text.hpp"

namespace ipsec_retry {
namespace {

using std::chrono::nanoseconds;

class policy_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsec_retry.policy"; }
  std::string message(int value) const override {
    switch (static_cast<policy_errc>(value)) {
      case policy_errc::syntax:
        return "policy syntax error";
      case policy_errc::unknown_key:
        return "unknown policy key";
      case policy_errc::duplicate_key:
        return "duplicate policy key";
      case policy_errc::bad_value:
        return "bad policy value";
      case policy_errc::out_of_range:
        return "policy value out of range";
      case policy_errc::unbounded:
        return "unbounded policy: attempts=unlimited with timeout=none";
      case policy_errc::inconsistent:
        return "inconsistent policy values";
    }
    return "policy error";
  }
};

// The keys, in the order format() writes them.
constexpr std::array<std::string_view, 12> keys = {
    "attempts",  "timeout", "backoff",  "initial",     "multiplier",  "step",
    "max_delay", "jitter",  "retry_on", "never_retry", "at_deadline", "seed"};

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

std::string format_code(std::uint32_t code) {
  if (const auto info = find_code(code)) return std::string(info->name);
  if ((code >> 31) != 0) {
    std::array<char, 16> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), code, 16);
    (void)ec;
    std::string hex(buf.data(), end);
    for (char& c : hex) {
      if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    }
    return "0x" + hex;
  }
  return std::to_string(code);
}

std::string format_double(double value) {
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  (void)ec;
  return std::string(buf.data(), end);
}

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
        {"initial", "max_delay"}, {"timeout", "attempts"}, {"never_retry", "retry_on"}};
    std::string_view key = e.token;
    std::size_t column = column_of(key);
    for (const auto& [a, b] : partners) {
      const std::string_view other = key == a ? b : key == b ? a : std::string_view{};
      if (!other.empty() && column_of(other) > column) {
        key = other;
        column = column_of(other);
      }
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

  maybe_error codes(std::string_view key, std::string_view value, std::size_t column,
                    bool transient) {
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
      classifier& c = settings_.classify;
      if (pos == 0) {
        // A key given replaces the base's codes for that key; it does not add to them.
        if (transient) {
          c.clear_retry_on();
        } else {
          c.clear_never_retry();
        }
      }
      const bool added = transient ? c.retry_on(code.value()) : c.never_retry(code.value());
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
    if (key == "retry_on") return codes(key, value, column, true);
    if (key == "never_retry") return codes(key, value, column, false);
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

const std::error_category& policy_category() noexcept {
  static const policy_category_impl instance;
  return instance;
}

void outcome_throw_as_system_error_with_payload(const policy_error& e) {
  throw std::system_error(make_error_code(e.code), e.message);
}

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
  static constexpr std::array<unit_spec, 6> largest_first = {{{"h", 3'600'000'000'000},
                                                              {"min", 60'000'000'000},
                                                              {"s", 1'000'000'000},
                                                              {"ms", 1'000'000},
                                                              {"us", 1'000},
                                                              {"ns", 1}}};
  for (const auto& unit : largest_first) {
    if (ns % unit.ns == 0) return std::to_string(ns / unit.ns) + std::string(unit.suffix);
  }
  return std::to_string(ns) + "ns";
}

policy_result<retry_policy> retry_policy::make(const retry_settings& s) {
  // `key`: the key the check is about (the parser turns it into a column).
  const auto fail = [](policy_errc code, std::string_view key, std::string message) {
    return policy_error{code, 0, std::string(key), std::move(message)};
  };
  if (s.attempts && *s.attempts == 0) {
    return fail(policy_errc::out_of_range, "attempts", "attempts must be >= 1 (it counts calls)");
  }
  if (s.timeout && *s.timeout < nanoseconds::zero()) {
    return fail(policy_errc::out_of_range, "timeout", "timeout must not be negative");
  }
  if (!s.attempts && !s.timeout) {
    return fail(policy_errc::unbounded, "timeout",
                "unbounded policy: attempts=unlimited with timeout=none would retry forever; "
                "set attempts or timeout");
  }
  const backoff& b = s.delays;
  if (b.initial < nanoseconds::zero() || b.max_delay < nanoseconds::zero() ||
      (b.step && *b.step < nanoseconds::zero())) {
    return fail(policy_errc::out_of_range, "initial",
                "initial, step and max_delay must not be negative");
  }
  if (b.initial <= nanoseconds::zero()) {
    return fail(policy_errc::out_of_range, "initial",
                "initial must be > 0: a zero first delay calls the agent in a tight loop");
  }
  if (b.initial > b.max_delay) {
    return fail(policy_errc::inconsistent, "initial",
                "initial (" + format_duration(b.initial) + ") exceeds max_delay (" +
                    format_duration(b.max_delay) + ")");
  }
  if (!std::isfinite(b.multiplier) || b.multiplier < 1.0) {
    return fail(policy_errc::out_of_range, "multiplier", "multiplier must be finite and >= 1");
  }
  if (b.jitter == jitter_mode::proportional &&
      !(b.jitter_percent > 0.0 && b.jitter_percent <= 100.0)) {
    return fail(policy_errc::out_of_range, "jitter", "jitter N% needs 0 < N <= 100");
  }
  for (std::uint32_t code : s.classify.retry_on_codes().codes()) {
    if (s.classify.never_retry_codes().contains(code)) {
      return fail(policy_errc::inconsistent, "never_retry",
                  "code " + format_code(code) + " is in both retry_on and never_retry");
    }
  }
  return retry_policy{s};
}

policy_result<retry_policy> retry_policy::parse(std::string_view text) {
  return policy_parser{text, retry_settings{}}.run();
}

policy_result<retry_policy> retry_policy::parse(std::string_view text, const retry_policy& base) {
  return policy_parser{text, base.settings()}.run();
}

std::string retry_policy::format() const {
  const retry_settings& s = settings_;
  const backoff& b = s.delays;
  std::string out;
  out += "attempts=" + (s.attempts ? std::to_string(*s.attempts) : std::string("unlimited"));
  out += ", timeout=" + (s.timeout ? format_duration(*s.timeout) : std::string("none"));
  out += ", backoff=" + std::string(to_string(b.strategy));
  out += ", initial=" + format_duration(b.initial);
  out += ", multiplier=" + format_double(b.multiplier);
  if (b.step) out += ", step=" + format_duration(*b.step);
  out += ", max_delay=" + format_duration(b.max_delay);
  out += ", jitter=";
  switch (b.jitter) {
    case jitter_mode::none:
      out += "none";
      break;
    case jitter_mode::full:
      out += "full";
      break;
    case jitter_mode::equal:
      out += "equal";
      break;
    case jitter_mode::proportional:
      out += format_double(b.jitter_percent) + "%";
      break;
  }
  const auto append_codes = [&](std::string_view key, const code_set& set) {
    if (set.empty()) return;
    out += ", ";
    out += key;
    out += '=';
    bool first = true;
    for (std::uint32_t code : set.codes()) {
      if (!first) out += '|';
      out += format_code(code);
      first = false;
    }
  };
  append_codes("retry_on", s.classify.retry_on_codes());
  append_codes("never_retry", s.classify.never_retry_codes());
  out += ", at_deadline=";
  out += s.on_deadline == at_deadline::final_call ? "final_call" : "give_up";
  if (s.seed) out += ", seed=" + std::to_string(*s.seed);
  return out;
}

}  // namespace ipsec_retry
