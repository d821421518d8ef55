// SPDX-License-Identifier: BSL-1.0
// retry_policy: the policy error category and validated construction (make()). The policy
// string's parser is src/policy_parse.cpp, its formatter src/policy_format.cpp.
#include <ipsec_retry/retry_policy.hpp>

#include <cmath>
#include <string>
#include <utility>

#include "policy_rules.hpp"

namespace ipsec_retry {
namespace {

using detail::find_conflict;
using detail::is_success_code;
using detail::success_code_refusal;
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

}  // namespace

const std::error_category& policy_category() noexcept {
  static const policy_category_impl instance;
  return instance;
}

std::string policy_error::message() const {
  std::string out;
  if (column != 0) out = "column " + std::to_string(column) + ": ";
  out += problem;
  if (!reason.empty()) out += ": " + reason;
  if (!suggestion.empty()) out += " (did you mean '" + suggestion + "'?)";
  if (!expected.empty()) {
    // "bad value 'x' for 'k': expected E", but "unknown budget key 'x' (expected a or b)" and
    // "bad code 'x' in 'k': why (expected E)".
    if (reason.empty() && code != policy_errc::unknown_key) {
      out += ": expected " + expected;
    } else {
      out += " (expected " + expected + ")";
    }
  }
  if (first_column != 0) out += " (first at column " + std::to_string(first_column) + ")";
  return out;
}

void outcome_throw_as_system_error_with_payload(const policy_error& e) {
  throw std::system_error(make_error_code(e.code), e.message());
}

policy_result<retry_policy> retry_policy::make(const retry_settings& given) {
  // `key`: the key the check is about (a parser adds the column where the text gave it).
  const auto fail = [](policy_errc code, std::string_view key, std::string problem) {
    policy_error e{};
    e.code = code;
    e.token = std::string(key);
    e.key = std::string(key);
    e.problem = std::move(problem);
    return e;
  };
  retry_settings s = given;
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
  backoff& b = s.delays;
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
  // Equal behaviour, equal values: what the chosen strategy and jitter ignore is reset.
  const backoff defaults;
  if (b.strategy != backoff_strategy::exponential) b.multiplier = defaults.multiplier;
  if (b.strategy != backoff_strategy::linear) b.step.reset();
  if (b.jitter != jitter_mode::proportional) b.jitter_percent = defaults.jitter_percent;

  // Codes set in code are normalized as an op's result is (0x80070005 -> 5), and no list may
  // hold a success code.
  const classifier& in = given.classify;
  classifier& c = s.classify;
  c = classifier{in.site()};
  const std::pair<std::string_view, const code_set*> lists[] = {
      {"retry_on", &in.retry_on_codes()},
      {"never_retry", &in.never_retry_codes()},
      {"success_on", &in.success_codes()}};
  for (const auto& [key, set] : lists) {
    for (std::uint32_t raw : set->codes()) {
      const std::uint32_t code = normalize(hresult{raw});
      if (is_success_code(code)) {
        return fail(policy_errc::out_of_range, key, success_code_refusal(key, code));
      }
      if (key == "retry_on") {
        c.retry_on(code);
      } else if (key == "never_retry") {
        c.never_retry(code);
      } else {
        c.map_to_success(code);
      }
    }
  }
  if (const auto conflict = find_conflict(c)) {
    return fail(policy_errc::inconsistent, conflict->second,
                "code " + detail::format_code(conflict->code) + " is in both " +
                    std::string(conflict->first) + " and " + std::string(conflict->second));
  }
  return retry_policy{s};
}

}  // namespace ipsec_retry
