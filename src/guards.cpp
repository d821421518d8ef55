#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/retry.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ipsec_retry {
namespace {

constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::int64_t milli(double tokens) noexcept {
  return std::llround(tokens * 1000.0);
}

// Thousandths of a token, clamped into the valid ranges (NaN counts as the lowest).
std::int64_t clamped_milli(double tokens, std::int64_t low, std::int64_t high) noexcept {
  if (!(tokens * 1000.0 >= static_cast<double>(low))) return low;
  if (tokens * 1000.0 >= static_cast<double>(high)) return high;
  return std::clamp<std::int64_t>(milli(tokens), low, high);
}
std::int64_t max_milli(const retry_budget::settings& s) noexcept {
  return clamped_milli(s.max_tokens, 1, 1'000'000);
}
std::int64_t ratio_milli(const retry_budget::settings& s) noexcept {
  return clamped_milli(s.token_ratio, 1, max_milli(s));
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
                        "max_tokens must be in (0, 1000]"};
  }
  if (!(s.token_ratio > 0.0 && s.token_ratio <= s.max_tokens) || milli(s.token_ratio) == 0) {
    return policy_error{policy_errc::out_of_range, 0, "token_ratio",
                        "token_ratio must be in [0.001, max_tokens]"};
  }
  return s;
}

policy_result<retry_budget::settings> retry_budget::parse(std::string_view text) {
  return parse(text, settings{});
}

policy_result<retry_budget::settings> retry_budget::parse(std::string_view text,
                                                          const settings& base) {
  settings s = base;
  bool seen_max = false;
  bool seen_ratio = false;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find_first_of(",;", pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = trim(text.substr(pos, end - pos));
    // The item's first character (or, for an empty item, its separator), counted from 1.
    const std::size_t column =
        item.empty() ? pos + 1 : static_cast<std::size_t>(item.data() - text.data()) + 1;
    if (!item.empty()) {
      const std::size_t eq = item.find('=');
      const std::string_view key = eq == std::string_view::npos ? item : trim(item.substr(0, eq));
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
      double* target = key == "max_tokens"    ? &s.max_tokens
                       : key == "token_ratio" ? &s.token_ratio
                                              : nullptr;
      if (target == nullptr) {
        return policy_error{policy_errc::unknown_key, column, std::string(key),
                            "column " + std::to_string(column) + ": unknown budget key '" +
                                std::string(key) + "' (expected max_tokens or token_ratio)"};
      }
      bool& seen = target == &s.max_tokens ? seen_max : seen_ratio;
      if (seen) {
        return policy_error{
            policy_errc::duplicate_key, column, std::string(key),
            "column " + std::to_string(column) + ": '" + std::string(key) + "' is given twice"};
      }
      seen = true;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), *target);
      if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size() ||
          !std::isfinite(*target)) {
        const std::size_t value_column =
            !value.empty() ? static_cast<std::size_t>(value.data() - text.data()) + 1
            : eq == std::string_view::npos ? column
                                           : column + eq + 1;
        return policy_error{policy_errc::bad_value, value_column, std::string(value),
                            "column " + std::to_string(value_column) + ": bad value '" +
                                std::string(value) + "' for '" + std::string(key) +
                                "': expected a decimal number"};
      }
    } else if (end != text.size() || pos != 0) {
      if (!(end == text.size() && trim(text).empty())) {
        return policy_error{
            policy_errc::syntax, column, {}, "column " + std::to_string(column) + ": empty item"};
      }
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  return make(s);
}

retry_budget::retry_budget(const settings& s) noexcept
    : max_milli_(max_milli(s)), ratio_milli_(ratio_milli(s)), tokens_(max_milli(s)) {}

retry_budget::settings retry_budget::current_settings() const noexcept {
  return settings{static_cast<double>(max_milli_.load(std::memory_order_relaxed)) / 1000.0,
                  static_cast<double>(ratio_milli_.load(std::memory_order_relaxed)) / 1000.0};
}

void retry_budget::reconfigure(const settings& s) noexcept {
  const std::int64_t max = max_milli(s);
  ratio_milli_.store(ratio_milli(s), std::memory_order_relaxed);
  const std::int64_t old_max = max_milli_.exchange(max, std::memory_order_relaxed);
  std::int64_t current = tokens_.load(std::memory_order_relaxed);
  std::int64_t next = 0;
  do {  // both factors are at most 10^6, so the product fits
    next = std::min(max, current * max / old_max);
  } while (!tokens_.compare_exchange_weak(current, next, std::memory_order_relaxed));
}

std::optional<refusal> budget_guard::admit(std::uint32_t call) const noexcept {
  // No budget attached refuses nothing; a first call is never refused.
  if (budget == nullptr || call <= 1 || budget->allow_retry()) return std::nullopt;
  return refusal{stop_reason::budget_exhausted, {}};
}

void budget_guard::record(verdict v, std::optional<std::uint32_t>) const noexcept {
  if (budget == nullptr) return;
  if (v == verdict::success) {
    budget->on_success();
  } else if (v == verdict::transient) {
    budget->on_failure();
  }
}

std::optional<refusal> circuit_breaker::admit() {
  std::lock_guard<std::mutex> lock(mutex_);
  switch (state_) {
    case state::closed:
      return std::nullopt;
    case state::open:
      if (now_() < open_until_) break;
      state_ = state::half_open;  // cool-down over: this caller is the probe
      probe_in_flight_ = true;
      return std::nullopt;
    case state::half_open:
      if (!probe_in_flight_) {
        probe_in_flight_ = true;
        return std::nullopt;
      }
      break;
  }
  return refusal{stop_reason::circuit_open, make_error_code(win32_error{last_code_})};
}

void circuit_breaker::record(verdict v, std::optional<std::uint32_t> code) {
  const bool transport = code && is_transport_failure(*code);
  std::lock_guard<std::mutex> lock(mutex_);
  if (transport) last_code_ = *code;
  if (state_ == state::half_open) {
    probe_in_flight_ = false;
    if (transport) {
      state_ = state::open;
      open_until_ = now_() + settings_.cool_down;
    } else {
      state_ = state::closed;
      consecutive_ = 0;
    }
    return;
  }
  (void)v;
  if (!transport) {
    consecutive_ = 0;
    return;
  }
  if (++consecutive_ >= settings_.failure_threshold && state_ == state::closed) {
    state_ = state::open;
    open_until_ = now_() + settings_.cool_down;
  }
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
