// SPDX-License-Identifier: BSL-1.0
// The policy string's key table (grammar: docs/policies.md): for each key, how its value is
// read and how format() writes it. A new key is a field of retry_settings and a row here.
#include <ipsec_retry/retry_policy.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "key_value.hpp"
#include "policy_rules.hpp"
#include "text.hpp"

namespace ipsec_retry::detail {
namespace {

using std::chrono::nanoseconds;

maybe_error read_duration(const kv_item& item, nanoseconds& out) {
  const auto parsed = parse_duration(item.value);
  if (parsed) {
    out = parsed.value();
    return std::nullopt;
  }
  if (parsed.error() == policy_errc::out_of_range) {
    return bad_value(policy_errc::out_of_range, item,
                     "a duration of at most about 292 years, in whole nanoseconds");
  }
  return bad_value(policy_errc::bad_value, item,
                   "a duration: a number and a unit (ns, us, ms, s, min, h), e.g. 250ms");
}

// A finite decimal number, no blanks, no hex, no "inf".
bool read_decimal(std::string_view text, double& out) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+';
  });
  double parsed = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (!plain || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(parsed)) {
    return false;
  }
  out = parsed;
  return true;
}

// Unsigned integers: attempts (uint32) and seed (uint64).
template <class Int>
std::errc read_unsigned(std::string_view text, Int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec == std::errc{} && end != text.data() + text.size()) return std::errc::invalid_argument;
  return ec;
}

maybe_error parse_attempts(retry_settings& s, const kv_item& item) {
  if (item.value == "unlimited") {
    s.attempts.reset();
    return std::nullopt;
  }
  std::uint32_t n = 0;
  const std::errc ec = read_unsigned(item.value, n);
  if (ec == std::errc::result_out_of_range) {
    return bad_value(policy_errc::out_of_range, item, "at most 4294967295");
  }
  if (ec != std::errc{})
    return bad_value(policy_errc::bad_value, item, "an integer >= 1 or 'unlimited'");
  if (n == 0) {
    return bad_value(policy_errc::out_of_range, item,
                     "an integer >= 1 (attempts counts calls, the first included)");
  }
  s.attempts = n;
  return std::nullopt;
}
bool format_attempts(const retry_settings& s, std::string& out) {
  out += s.attempts ? std::to_string(*s.attempts) : "unlimited";
  return true;
}

maybe_error parse_timeout(retry_settings& s, const kv_item& item) {
  if (item.value == "none") {
    s.timeout.reset();
    return std::nullopt;
  }
  nanoseconds d{};
  if (auto e = read_duration(item, d)) return e;
  s.timeout = d;
  return std::nullopt;
}
bool format_timeout(const retry_settings& s, std::string& out) {
  out += s.timeout ? format_duration(*s.timeout) : "none";
  return true;
}

maybe_error parse_backoff(retry_settings& s, const kv_item& item) {
  for (auto strategy : {backoff_strategy::constant, backoff_strategy::linear,
                        backoff_strategy::exponential, backoff_strategy::decorrelated}) {
    if (item.value == to_string(strategy)) {
      s.delays.strategy = strategy;
      return std::nullopt;
    }
  }
  return bad_value(policy_errc::bad_value, item, "constant, linear, exponential or decorrelated");
}
bool format_backoff(const retry_settings& s, std::string& out) {
  out += to_string(s.delays.strategy);
  return true;
}

maybe_error parse_initial(retry_settings& s, const kv_item& item) {
  return read_duration(item, s.delays.initial);
}
bool format_initial(const retry_settings& s, std::string& out) {
  out += format_duration(s.delays.initial);
  return true;
}

maybe_error parse_multiplier(retry_settings& s, const kv_item& item) {
  double m = 0;
  if (!read_decimal(item.value, m)) {
    return bad_value(policy_errc::bad_value, item, "a finite decimal number");
  }
  if (m < 1.0) return bad_value(policy_errc::out_of_range, item, "a number >= 1");
  s.delays.multiplier = m;
  return std::nullopt;
}
// make() resets what the strategy ignores, so only the keys it uses are written.
bool format_multiplier(const retry_settings& s, std::string& out) {
  if (s.delays.strategy != backoff_strategy::exponential) return false;
  out += shortest_decimal(s.delays.multiplier);
  return true;
}

maybe_error parse_step(retry_settings& s, const kv_item& item) {
  nanoseconds d{};
  if (auto e = read_duration(item, d)) return e;
  s.delays.step = d;
  return std::nullopt;
}
bool format_step(const retry_settings& s, std::string& out) {
  if (!s.delays.step) return false;
  out += format_duration(*s.delays.step);
  return true;
}

maybe_error parse_max_delay(retry_settings& s, const kv_item& item) {
  return read_duration(item, s.delays.max_delay);
}
bool format_max_delay(const retry_settings& s, std::string& out) {
  out += format_duration(s.delays.max_delay);
  return true;
}

constexpr std::string_view jitter_expected = "none, full, equal or N% with 0 < N <= 100";

maybe_error parse_jitter(retry_settings& s, const kv_item& item) {
  const std::string_view v = item.value;
  backoff& b = s.delays;
  if (v == "none") {
    b.jitter = jitter_mode::none;
  } else if (v == "full") {
    b.jitter = jitter_mode::full;
  } else if (v == "equal") {
    b.jitter = jitter_mode::equal;
  } else if (v.back() == '%') {
    double n = 0;
    if (!read_decimal(v.substr(0, v.size() - 1), n)) {
      return bad_value(policy_errc::bad_value, item, jitter_expected);
    }
    if (!(n > 0.0 && n <= 100.0)) {
      return bad_value(policy_errc::out_of_range, item, "N% with 0 < N <= 100");
    }
    b.jitter = jitter_mode::proportional;
    b.jitter_percent = n;
  } else {
    return bad_value(policy_errc::bad_value, item, jitter_expected);
  }
  return std::nullopt;
}
bool format_jitter(const retry_settings& s, std::string& out) {
  switch (s.delays.jitter) {
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
      out += shortest_decimal(s.delays.jitter_percent) + "%";
      break;
  }
  return true;
}

// retry_on, never_retry and success_on: codes joined by '|'. The three lists of a classifier.
enum class code_list { retry_on, never_retry, success_on };

const code_set& codes_of(const classifier& c, code_list list) {
  switch (list) {
    case code_list::retry_on:
      return c.retry_on_codes();
    case code_list::never_retry:
      return c.never_retry_codes();
    case code_list::success_on:
      break;
  }
  return c.success_codes();
}

template <code_list List>
maybe_error parse_codes(retry_settings& s, const kv_item& item) {
  classifier& c = s.classify;
  // A key given replaces the base's codes for that key; it does not add to them.
  if (List == code_list::retry_on) c.clear_retry_on();
  if (List == code_list::never_retry) c.clear_never_retry();
  if (List == code_list::success_on) c.clear_success();
  const std::string_view value = item.value;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = value.find('|', pos);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view raw = value.substr(pos, end - pos);
    const std::string_view token = trim(raw);
    const std::size_t column = item.value_column + pos + (raw.size() - trim_front(raw).size());
    const auto code = parse_code(token);
    if (!code) {
      policy_error e =
          error_at(policy_errc::bad_value, column, token.empty() ? value : token,
                   "bad code '" + std::string(token) + "' in '" + std::string(item.key) + "'");
      e.reason = code.error().message();
      e.expected =
          "decimal, 0x hex, an HRESULT or a name like ERROR_IPSEC_QM_POLICY_PENDING_DELETION, "
          "joined by '|'";
      return e;
    }
    if (is_success_code(code.value()) || is_spelled_success_hresult(token, code.value())) {
      return error_at(policy_errc::out_of_range, column, token,
                      success_code_refusal(item.key, code.value()));
    }
    const bool added = List == code_list::retry_on      ? c.retry_on(code.value())
                       : List == code_list::never_retry ? c.never_retry(code.value())
                                                        : c.map_to_success(code.value());
    if (!added) {
      return error_at(policy_errc::out_of_range, column, token,
                      "too many codes in '" + std::string(item.key) + "' (at most " +
                          std::to_string(code_set::capacity) + ")");
    }
    if (end == value.size()) break;
    pos = end + 1;
  }
  return std::nullopt;
}
template <code_list List>
bool format_codes(const retry_settings& s, std::string& out) {
  const code_set& set = codes_of(s.classify, List);
  if (set.empty()) return false;
  bool first = true;
  for (std::uint32_t code : set.codes()) {
    if (!first) out += '|';
    out += format_code(code);
    first = false;
  }
  return true;
}

maybe_error parse_idempotent(retry_settings& s, const kv_item& item) {
  if (item.value == "yes") {
    s.classify.set_idempotency(idempotency::idempotent);
  } else if (item.value == "no") {
    s.classify.set_idempotency(idempotency::non_idempotent);
  } else {
    return bad_value(policy_errc::bad_value, item, "yes or no");
  }
  return std::nullopt;
}
bool format_idempotent(const retry_settings& s, std::string& out) {
  if (s.classify.site() != idempotency::idempotent) return false;
  out += "yes";
  return true;
}

maybe_error parse_at_deadline(retry_settings& s, const kv_item& item) {
  if (item.value == "final_call") {
    s.on_deadline = at_deadline::final_call;
  } else if (item.value == "give_up") {
    s.on_deadline = at_deadline::give_up;
  } else {
    return bad_value(policy_errc::bad_value, item, "final_call or give_up");
  }
  return std::nullopt;
}
bool format_at_deadline(const retry_settings& s, std::string& out) {
  out += s.on_deadline == at_deadline::final_call ? "final_call" : "give_up";
  return true;
}

maybe_error parse_seed(retry_settings& s, const kv_item& item) {
  std::uint64_t seed = 0;
  const std::errc ec = read_unsigned(item.value, seed);
  if (ec == std::errc::result_out_of_range) {
    return bad_value(policy_errc::out_of_range, item, "at most 18446744073709551615");
  }
  if (ec != std::errc{}) return bad_value(policy_errc::bad_value, item, "an unsigned integer");
  s.seed = seed;
  return std::nullopt;
}
bool format_seed(const retry_settings& s, std::string& out) {
  if (!s.seed) return false;
  out += std::to_string(*s.seed);
  return true;
}

}  // namespace

const std::array<key_rule<retry_settings>, policy_key_count> policy_keys = {{
    {"attempts", parse_attempts, format_attempts},
    {"timeout", parse_timeout, format_timeout},
    {"backoff", parse_backoff, format_backoff},
    {"initial", parse_initial, format_initial},
    {"multiplier", parse_multiplier, format_multiplier},
    {"step", parse_step, format_step},
    {"max_delay", parse_max_delay, format_max_delay},
    {"jitter", parse_jitter, format_jitter},
    {"retry_on", parse_codes<code_list::retry_on>, format_codes<code_list::retry_on>},
    {"never_retry", parse_codes<code_list::never_retry>, format_codes<code_list::never_retry>},
    {"success_on", parse_codes<code_list::success_on>, format_codes<code_list::success_on>},
    {"idempotent", parse_idempotent, format_idempotent},
    {"at_deadline", parse_at_deadline, format_at_deadline},
    {"seed", parse_seed, format_seed},
}};

}  // namespace ipsec_retry::detail
