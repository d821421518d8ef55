// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/retry.hpp>

#include <ipsec_retry/detail/saturate.hpp>

#include <exception>
#include <limits>
#include <optional>
#include <string>

#include "text.hpp"

namespace ipsec_retry {

using detail::saturating_advance;
using detail::saturating_distance;

retry_state::retry_state(const retry_policy& policy, time_point start,
                         std::optional<time_point> absolute_deadline) noexcept
    : retry_state(policy, start, absolute_deadline,
                  policy.settings().seed ? *policy.settings().seed : fresh_seed()) {}

retry_state::retry_state(const retry_policy& policy, time_point start,
                         std::optional<time_point> absolute_deadline, std::uint64_t seed) noexcept
    : schedule_(policy.delays(), seed),
      start_(start),
      deadline_(absolute_deadline),
      attempts_(policy.settings().attempts),
      on_deadline_(policy.settings().on_deadline) {
  if (const auto timeout = policy.settings().timeout) {
    const time_point relative = saturating_advance(start, *timeout);
    if (!deadline_ || relative < *deadline_) deadline_ = relative;
  }
}

next_step retry_state::on_call_end(verdict v, time_point now) noexcept {
  if (calls_ != std::numeric_limits<std::uint32_t>::max()) ++calls_;
  if (v == verdict::success) return {next_step::action::succeed, {}, {}};
  const auto stop = [](stop_reason reason) {
    return next_step{next_step::action::stop, {}, reason};
  };
  if (v == verdict::permanent) return stop(stop_reason::permanent_error);
  if (attempts_ && calls_ >= *attempts_) return stop(stop_reason::attempts_exhausted);
  // The final call was scheduled at the deadline: it is the last, even if a sleeper woke early
  // and the clock still reads before the deadline (no ever-shorter sleeps towards it).
  if (final_call_scheduled_ || (deadline_ && now >= *deadline_)) {
    return stop(stop_reason::deadline_exceeded);
  }
  std::chrono::nanoseconds delay = schedule_.next();
  if (deadline_) {
    const std::chrono::nanoseconds remaining =
        saturating_distance(now, *deadline_);  // now < deadline
    if (delay > remaining) {
      if (on_deadline_ == at_deadline::give_up) return stop(stop_reason::deadline_exceeded);
      delay = remaining;  // sleep only until the deadline; the final call is there
      final_call_scheduled_ = true;
    }
  }
  due_ = saturating_advance(now, delay);
  return {next_step::action::call_again, delay, {}};
}

next_step retry_state::resume(time_point now) noexcept {
  if (past_deadline(now)) return {next_step::action::stop, {}, stop_reason::deadline_exceeded};
  return {next_step::action::call_again, detail::time_left(now, due_), {}};
}

std::optional<stop_reason> retry_state::before_call(time_point now) noexcept {
  if (!past_deadline(now)) return std::nullopt;
  if (on_deadline_ == at_deadline::give_up) return stop_reason::deadline_exceeded;
  final_call_scheduled_ = true;  // woke past the deadline: this call is the last
  return std::nullopt;
}

std::string retry_error::message() const {
  std::string text;
  if (!site.empty()) text += std::string(site) + ": ";
  if (const auto value = windows_code(code)) {
    // "NAME (13023): " for a code the table knows (win32_error's to_string).
    if (find_code(*value)) text += to_string(win32_error{*value}) + ": ";
  }
  text += code.message();
  text += " [";
  text += to_string(reason);
  text += " after " + std::to_string(calls) + (calls == 1 ? " call in " : " calls in ");
  text += format_human_duration(elapsed);
  text += ']';
  return text;
}

retry_exception::retry_exception(const retry_error& e)
    : std::system_error(e.code), error_(e), message_(e.message()) {}

void outcome_throw_as_system_error_with_payload(const retry_error& e) {
  throw retry_exception(e);
}

std::string format_human_duration(std::chrono::nanoseconds d) {
  std::string text;
  std::int64_t count = d.count();
  // Magnitude as unsigned: -INT64_MIN does not fit in int64.
  const std::uint64_t magnitude =
      count < 0 ? 0u - static_cast<std::uint64_t>(count) : static_cast<std::uint64_t>(count);
  if (count < 0) text += '-';
  for (const detail::duration_unit& u : detail::duration_units) {
    const auto size = static_cast<std::uint64_t>(u.ns);
    if (magnitude < size && u.ns != 1) continue;
    const std::uint64_t whole = magnitude / size;
    // Three significant digits: as many decimals as the whole part leaves (2, 1 or 0).
    const int decimals = whole >= 100 ? 0 : whole >= 10 ? 1 : 2;
    std::uint64_t scale = 1;
    for (int i = 0; i < decimals; ++i) scale *= 10;
    // Rounded to nearest at that precision, in integers (no double rounding surprises).
    const std::uint64_t rest = magnitude % size;
    std::uint64_t fraction = size == 1 ? 0 : (rest * scale + size / 2) / size;
    std::uint64_t integral = whole;
    if (fraction >= scale) {
      ++integral;
      fraction -= scale;
    }
    text += std::to_string(integral);
    if (fraction != 0) {
      std::string digits = std::to_string(fraction);
      digits.insert(0, static_cast<std::size_t>(decimals) - digits.size(), '0');
      while (!digits.empty() && digits.back() == '0') digits.pop_back();
      text += '.' + digits;
    }
    text += u.suffix;
    return text;
  }
  return text;
}

std::optional<std::error_code> translate_system_error(std::exception_ptr e) noexcept {
  if (!e) return std::nullopt;
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& x) {
    return x.code();
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace ipsec_retry
