// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/retry_error.hpp>

#include <algorithm>
#include <cmath>

namespace ipsec_retry {
namespace {

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

void circuit_breaker::reconfigure(const settings& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  settings_ = s;
  if (settings_.failure_threshold == 0) settings_.failure_threshold = 1;
}

circuit_breaker::settings circuit_breaker::current_settings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return settings_;
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

void circuit_breakers::reconfigure(const circuit_breaker::settings& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  settings_ = s;
  for (auto& [server, breaker] : breakers_) breaker.reconfigure(s);
}

circuit_breaker::settings circuit_breakers::current_settings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return settings_;
}

}  // namespace ipsec_retry
