// ipsec_retry: what a failed retry reports.
//
// A retry_result<T> holds the op's value, or a retry_error: the last Windows code (a
// std::error_code in win32_category for Windows codes) together with why retrying stopped, how
// many calls were made and how long it took. One step reaches both:
//
//   if (!r) log(r.error().code, to_string(r.error().reason), r.error().calls);
#pragma once

#include <ipsec_retry/win32_error.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace ipsec_retry {

/// Why retrying stopped.
enum class stop_reason : std::uint8_t {
  permanent_error,     ///< the last call's verdict was permanent
  attempts_exhausted,  ///< `attempts` calls were made
  deadline_exceeded,   ///< the deadline passed (or, with give_up, the next delay would cross it)
  cancelled,           ///< the stop_token was triggered
  budget_exhausted,    ///< a shared retry budget refused the retry
  circuit_open,        ///< a circuit breaker refused the call
};

constexpr std::string_view to_string(stop_reason r) noexcept {
  switch (r) {
    case stop_reason::permanent_error:
      return "permanent_error";
    case stop_reason::attempts_exhausted:
      return "attempts_exhausted";
    case stop_reason::deadline_exceeded:
      return "deadline_exceeded";
    case stop_reason::cancelled:
      return "cancelled";
    case stop_reason::budget_exhausted:
      return "budget_exhausted";
    case stop_reason::circuit_open:
      return "circuit_open";
  }
  return "permanent_error";
}

/// A failed retry: the last Windows code and how the loop got there.
struct retry_error {
  std::error_code code;              ///< the last call's code (win32_category for Windows codes)
  stop_reason reason;                ///< why retrying stopped
  std::uint32_t calls;               ///< calls made, 0 if cancelled before the first
  std::chrono::nanoseconds elapsed;  ///< from the start of call 1 until the loop stopped
  std::string_view site{};  ///< the call site's name, when the options named one (retry_options)

  /// e.g. "qm.delete: ERROR_IPSEC_QM_POLICY_PENDING_DELETION (13023): The Quick Mode policy is
  /// pending deletion. [deadline_exceeded after 11 calls in 5s]" (the site's name first when
  /// there is one; durations as format_human_duration gives them). Allocates; call it off the
  /// hot path.
  std::string message() const;

  friend bool operator==(const retry_error&, const retry_error&) = default;
};
/// What `.value()` on a failed retry throws: a std::system_error whose code() is the last
/// Windows code and whose what() is message(), once; error() gives the whole retry_error.
class retry_exception : public std::system_error {
 public:
  explicit retry_exception(const retry_error& e);
  const char* what() const noexcept override { return message_.c_str(); }
  const retry_error& error() const noexcept { return error_; }

 private:
  retry_error error_;
  std::string message_;
};

/// Outcome's hooks: `.value()` on a failed retry throws retry_exception.
inline std::error_code make_error_code(const retry_error& e) noexcept {
  return e.code;
}
[[noreturn]] void outcome_throw_as_system_error_with_payload(const retry_error& e);

/// A duration as a person reads it: three significant digits in the largest unit that keeps
/// the number at least 1 ("1.27s", "120ms", "15.6us", "2.5min", "0ns"); negative durations get a
/// '-'. For logs and messages; the policy string's exact form is format_duration.
std::string format_human_duration(std::chrono::nanoseconds d);

/// The value of the op (or its success/warning code), or a retry_error.
template <class T>
using retry_result = outcome::std_result<T, retry_error>;

}  // namespace ipsec_retry
