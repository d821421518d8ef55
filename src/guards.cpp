// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/retry_error.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "text.hpp"

namespace ipsec_retry {
namespace {

using detail::shortest_decimal;
using detail::trim;

std::int64_t milli(double tokens) noexcept {
  return std::llround(tokens * 1000.0);
}

// Thousandths of a token, clamped into [low, high] (NaN counts as the lowest).
std::uint64_t clamped_milli(double tokens, std::int64_t low, std::int64_t high) noexcept {
  std::int64_t m = high;
  if (!(tokens * 1000.0 >= static_cast<double>(low))) {
    m = low;
  } else if (tokens * 1000.0 < static_cast<double>(high)) {
    m = std::clamp<std::int64_t>(milli(tokens), low, high);
  }
  return static_cast<std::uint64_t>(m);
}

// The registry's clock, handed to each breaker it creates.
struct shared_clock {
  const std::function<time_point()>* now_function;
  time_point now() const { return (*now_function)(); }
};

}  // namespace

policy_result<retry_budget::settings> retry_budget::make(const settings& s) {
  if (!(s.max_tokens > 0.0 && s.max_tokens <= 1000.0)) {
    return policy_error{policy_errc::out_of_range, 0, "max_tokens",
                        "max_tokens must be in (0, 1000], got " + shortest_decimal(s.max_tokens)};
  }
  if (!(s.token_ratio > 0.0 && s.token_ratio <= s.max_tokens) || milli(s.token_ratio) == 0) {
    return policy_error{
        policy_errc::out_of_range, 0, "token_ratio",
        "token_ratio must be in [0.001, max_tokens = " + shortest_decimal(s.max_tokens) +
            "], got " + shortest_decimal(s.token_ratio)};
  }
  return s;
}

policy_result<retry_budget::settings> retry_budget::parse(std::string_view text) {
  return parse(text, settings{});
}

policy_result<retry_budget::settings> retry_budget::parse(std::string_view text,
                                                          const settings& base) {
  const auto column_of = [&](std::string_view s) {
    return static_cast<std::size_t>(s.data() - text.data()) + 1;
  };
  settings s = base;
  std::size_t max_column = 0;  // where each key was given (0: not given)
  std::size_t ratio_column = 0;
  std::size_t pos = 0;
  const bool blank = trim(text).empty();
  while (!blank) {
    std::size_t end = text.find_first_of(",;", pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = trim(text.substr(pos, end - pos));
    if (item.empty()) {
      // Point at the separator after the empty item, or at the trailing one.
      if (end < text.size()) {
        return detail::error_at(
            policy_errc::syntax, end + 1, text.substr(end, 1),
            "empty item: expected key=value before '" + std::string(1, text[end]) + "'");
      }
      return detail::error_at(policy_errc::syntax, pos, text.substr(pos - 1, 1),
                              "expected key=value after the last separator");
    }
    const std::size_t column = column_of(item);
    const std::size_t eq = item.find('=');
    const std::string_view key = eq == std::string_view::npos ? item : trim(item.substr(0, eq));
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
    double* target = key == "max_tokens"    ? &s.max_tokens
                     : key == "token_ratio" ? &s.token_ratio
                                            : nullptr;
    if (target == nullptr) {
      return detail::error_at(
          policy_errc::unknown_key, column, key,
          "unknown budget key '" + std::string(key) + "' (expected max_tokens or token_ratio)");
    }
    std::size_t& seen = target == &s.max_tokens ? max_column : ratio_column;
    if (seen != 0) {
      return detail::error_at(policy_errc::duplicate_key, column, key,
                              "'" + std::string(key) + "' is given twice");
    }
    seen = column;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), *target);
    if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size() ||
        !std::isfinite(*target)) {
      const std::size_t value_column = !value.empty()                 ? column_of(value)
                                       : eq == std::string_view::npos ? column
                                                                      : column + eq + 1;
      return detail::error_at(policy_errc::bad_value, value_column, value,
                              "bad value '" + std::string(value) + "' for '" + std::string(key) +
                                  "': expected a decimal number");
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  auto made = make(s);
  if (!made) {
    // Point at the key the check names, or at the other one if only that one was given
    // (max_tokens=0.05 over a base token_ratio=0.1).
    policy_error e = std::move(made).assume_error();
    const bool about_max = e.token == "max_tokens";
    const std::size_t column = (about_max ? max_column : ratio_column) != 0
                                   ? (about_max ? max_column : ratio_column)
                                   : (about_max ? ratio_column : max_column);
    if (column != 0) e = detail::error_at(e.code, column, e.token, e.message);
    return e;
  }
  return made;
}

std::uint64_t retry_budget::packed(const settings& s, std::uint64_t tokens) noexcept {
  const std::uint64_t max = clamped_milli(s.max_tokens, 1, 1'000'000);
  const std::uint64_t ratio = clamped_milli(s.token_ratio, 1, static_cast<std::int64_t>(max));
  return pack(std::min(tokens, max), max, ratio);
}

retry_budget::retry_budget(const settings& s) noexcept
    : word_(packed(s, field_mask)) {}  // starts full

retry_budget::settings retry_budget::current_settings() const noexcept {
  const std::uint64_t w = word_.load(std::memory_order_relaxed);
  return settings{static_cast<double>(field(w, max_shift)) / 1000.0,
                  static_cast<double>(field(w, ratio_shift)) / 1000.0};
}

void retry_budget::reconfigure(const settings& s) noexcept {
  const std::uint64_t max = field(packed(s, 0), max_shift);
  std::uint64_t w = word_.load(std::memory_order_relaxed);
  std::uint64_t next = 0;
  do {  // both factors are at most 10^6, so the product fits
    next = packed(s, field(w, tokens_shift) * max / field(w, max_shift));
  } while (!word_.compare_exchange_weak(w, next, std::memory_order_relaxed));
}

admission<no_ticket> budget_guard::admit(std::uint32_t call) const noexcept {
  // No budget attached refuses nothing; a first call is never refused.
  if (budget == nullptr || call <= 1 || budget->allow_retry()) return {};
  return {refusal{stop_reason::budget_exhausted, {}}};
}

void budget_guard::record(const no_ticket&, verdict v,
                          std::optional<std::uint32_t> code) const noexcept {
  if (budget == nullptr) return;
  if (v == verdict::success) {
    budget->on_success();
  } else if (code && signals_overload(*code)) {
    budget->on_failure();
  }
}

void circuit_breaker::enter(state s) noexcept {
  state_ = s;
  ++epoch_;
  probe_in_flight_ = false;
  if (s == state::open) open_until_ = now_() + settings_.cool_down;
  if (s == state::closed) consecutive_ = 0;
}

admission<circuit_breaker::ticket> circuit_breaker::admit() {
  std::lock_guard<std::mutex> lock(mutex_);
  switch (state_) {
    case state::closed:
      return {std::nullopt, ticket{epoch_, false}};
    case state::open: {
      const time_point now = now_();
      if (now < open_until_) break;
      enter(state::half_open);  // cool-down over: this caller is the probe
      probe_in_flight_ = true;
      probe_since_ = now;
      return {std::nullopt, ticket{epoch_, true}};
    }
    case state::half_open: {
      const time_point now = now_();
      if (probe_in_flight_ && now - probe_since_ < settings_.cool_down) break;
      // No probe out, or one out for a whole cool-down (written off: its result, should it
      // come, belongs to an older epoch). This caller is the probe.
      if (probe_in_flight_) enter(state::half_open);
      probe_in_flight_ = true;
      probe_since_ = now;
      return {std::nullopt, ticket{epoch_, true}};
    }
  }
  return {refusal{stop_reason::circuit_open, make_error_code(win32_error{last_code_})}};
}

void circuit_breaker::record(const ticket& t, verdict, std::optional<std::uint32_t> code) noexcept {
  const bool transport = code && is_transport_failure(*code);
  std::lock_guard<std::mutex> lock(mutex_);
  if (t.epoch != epoch_) return;  // admitted before the last change of state: a late result
  if (transport) last_code_ = *code;
  if (state_ == state::half_open) {
    if (t.probe) enter(transport ? state::open : state::closed);
    return;
  }
  if (state_ != state::closed) return;
  if (!transport) {
    consecutive_ = 0;
  } else if (++consecutive_ >= settings_.failure_threshold) {
    enter(state::open);
  }
}

void circuit_breaker::release(const ticket& t) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  // Only the current probe holds anything: its slot goes to the next caller.
  if (t.probe && t.epoch == epoch_ && state_ == state::half_open) probe_in_flight_ = false;
}

circuit_breaker::state circuit_breaker::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

std::error_code circuit_breaker::last_code() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return make_error_code(win32_error{last_code_});
}

circuit_breaker& circuit_breakers::for_server(std::wstring_view server) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = breakers_.find(server);
  if (it == breakers_.end()) {
    it = breakers_
             .emplace(std::piecewise_construct, std::forward_as_tuple(server),
                      std::forward_as_tuple(settings_, shared_clock{&now_}))
             .first;
  }
  return it->second;
}

}  // namespace ipsec_retry
