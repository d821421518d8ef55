// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: one call site's retry policy, and its policy-string form.
//
// A retry_policy is a validated, copyable value: how many calls (attempts), how long in total
// (timeout), how long between calls (backoff), what to do at the deadline, and which codes
// this site retries. Build it in code or parse it from the compact string a host keeps in its
// config file, environment or registry (grammar: docs/policies.md):
//
//   auto p = ipsec_retry::retry_policy::parse("timeout=5s, initial=10ms, jitter=none");
//   if (!p) std::cerr << p.error().message() << '\n';   // names the token and its column
//
//   auto q = ipsec_retry::retry_policy::make(
//       {.attempts = 5,
//        .timeout = std::chrono::seconds{2},
//        .delays = {.initial = std::chrono::milliseconds{50}}});
#pragma once

#include <ipsec_retry/backoff.hpp>
#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace ipsec_retry {

/// What the loop does when the next delay would carry past the deadline (docs/policies.md).
enum class at_deadline : std::uint8_t {
  final_call,  ///< sleep only until the deadline and make one last call there
  give_up,     ///< stop at once with deadline_exceeded
};

/// Everything a call site can set. Aggregate: use designated initializers. Defaults are the
/// policy string's defaults.
struct retry_settings {
  /// Calls in total, the first included; unset = unlimited.
  std::optional<std::uint32_t> attempts{};
  std::optional<std::chrono::nanoseconds> timeout = std::chrono::seconds{30};  ///< unset = none
  backoff delays{};       ///< strategy, initial, multiplier, step, cap, jitter
  classifier classify{};  ///< retry_on / never_retry / success_on (map_to_success), idempotent
  at_deadline on_deadline = at_deadline::final_call;
  std::optional<std::uint64_t> seed{};  ///< fixes the jitter; unset = fresh_seed() per call

  friend bool operator==(const retry_settings&, const retry_settings&) = default;
};

/// Why a policy is invalid.
enum class policy_errc : int {
  syntax = 1,     ///< not `key=value` items separated by ',' or ';'
  unknown_key,    ///< a key the grammar does not have
  duplicate_key,  ///< the same key twice
  bad_value,      ///< a value of the wrong form (e.g. a bare number for a duration)
  out_of_range,   ///< a value outside its allowed range (attempts=0, multiplier<1, ...)
  unbounded,      ///< attempts=unlimited together with timeout=none
  inconsistent,   ///< values that contradict each other (initial > max_delay, ...)
};
const std::error_category& policy_category() noexcept;
inline std::error_code make_error_code(policy_errc e) noexcept {
  return {static_cast<int>(e), policy_category()};
}

/// An error in a text (a policy string, budget or breaker settings) or in make(): what is
/// wrong and where, kept as data; message() renders it, e.g.
///   "column 1: unknown key 'atempts' (did you mean 'attempts'?)"
/// A caller embedding the text elsewhere (a configuration line) gets columns of the whole line,
/// since the parsers are told where the text starts.
struct policy_error {
  policy_errc code;
  std::size_t column = 0;        ///< 1-based column of `token` in the text; 0 for make()
  std::string token;             ///< the offending text; for a contradiction, the key pointed at
  std::string key;               ///< the key the error is about ("" for a syntax error)
  std::string problem;           ///< what is wrong, e.g. "bad value '5' for 'timeout'"
  std::string reason;            ///< why, when the problem alone does not say (a bad code's error)
  std::string expected;          ///< what would have been accepted, if there is something to say
  std::string suggestion;        ///< unknown_key: the nearest key ("did you mean")
  std::size_t first_column = 0;  ///< duplicate_key: where the key was first given

  /// The human-readable text: "column N: " (when there is a position), the problem, then the
  /// reason, the suggestion, what was expected and the first occurrence, when set.
  std::string message() const;
};
/// Outcome's hooks: `.value()` on a failed policy_result throws std::system_error carrying
/// the message; `.error()` gives the whole policy_error.
inline std::error_code make_error_code(const policy_error& e) noexcept {
  return make_error_code(e.code);
}
[[noreturn]] void outcome_throw_as_system_error_with_payload(const policy_error& e);

template <class T>
using policy_result = outcome::std_result<T, policy_error>;

class retry_policy {
 public:
  /// The defaults (attempts=unlimited, timeout=30s, exponential from 20ms x2 up to 2s, 20%
  /// jitter, final_call at the deadline).
  retry_policy() noexcept = default;

  /// Validates `s`: attempts >= 1; timeout >= 0; not both unlimited; initial > 0; step and
  /// max_delay >= 0; initial <= max_delay; multiplier finite and >= 1; 0 < jitter_percent <= 100
  /// with proportional jitter; no 0 (ERROR_SUCCESS) in retry_on, never_retry or map_to_success
  /// (a site cannot turn success into a failure whose code is falsy); no code in two of them.
  ///
  /// Then normalizes, so that equal behaviour means equal values (and parse(format()) gives
  /// back the same value): what the chosen mode ignores is reset to its default (multiplier
  /// unless exponential, step unless linear, jitter_percent unless proportional jitter), and
  /// the classifier's codes are normalized as an op's result is (0x80070005 becomes 5).
  /// Normalizing instead of writing ignored fields out keeps the policy string free of keys
  /// that do nothing. A base policy for parse(text, base) is normalized too: a text that
  /// switches to exponential gets multiplier 2 unless it gives one.
  static policy_result<retry_policy> make(const retry_settings& s);

  /// Parses a policy string (docs/policies.md). "" (or only blanks) gives the defaults.
  /// Errors name the token and its column; an unknown key suggests the nearest valid one.
  static policy_result<retry_policy> parse(std::string_view text);

  /// As parse(text), but keys the text does not give keep `base`'s values (a key given
  /// replaces them; retry_on/never_retry/success_on replace base's codes for that key).
  static policy_result<retry_policy> parse(std::string_view text, const retry_policy& base);

  /// The normalized policy string: the keys in a fixed order with their canonical values
  /// (durations in the largest exact unit, codes by name); the code lists, seed, step and
  /// idempotent=yes only when set, multiplier only for exponential backoff. For every value
  /// make() or parse() returned, parse(format()) == *this: map_to_success codes are written as
  /// success_on, the idempotency as idempotent.
  std::string format() const;

  const retry_settings& settings() const noexcept { return settings_; }
  const classifier& classify() const noexcept { return settings_.classify; }
  /// This policy with the site's idempotency set to `site`, everything else unchanged. Always
  /// valid, so unlike make() it checks nothing: a copy and one field (the typed operations'
  /// fast path calls it for every idempotent operation).
  retry_policy with_idempotency(idempotency site) const noexcept {
    retry_policy p = *this;
    p.settings_.classify.set_idempotency(site);
    return p;
  }
  const backoff& delays() const noexcept { return settings_.delays; }

  friend bool operator==(const retry_policy&, const retry_policy&) = default;

 private:
  explicit retry_policy(const retry_settings& s) noexcept : settings_(s) {}
  retry_settings settings_;
};

/// A duration as the policy string spells it: the largest unit from h, min, s, ms, us, ns in
/// which it is a whole number ("1500ms", "2s", "1min").
std::string format_duration(std::chrono::nanoseconds d);

/// Parses "1.5s", "250ms", "10us", "1min", "2h", "100ns": a decimal number and a unit. The
/// result must be a whole number of nanoseconds and fit in int64 nanoseconds.
result<std::chrono::nanoseconds> parse_duration(std::string_view text) noexcept;

}  // namespace ipsec_retry

namespace std {
template <>
struct is_error_code_enum<ipsec_retry::policy_errc> : true_type {};
}  // namespace std
