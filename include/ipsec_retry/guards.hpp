// ipsec_retry: protecting the Policy Agent from retry storms.
//
// A guard sits in front of every call retry() makes: it may refuse a call (the loop then stops
// with the guard's reason) and it learns every call's verdict. Guards are shared between call
// sites and threads; the loop holds only a pointer, and retry_options{} without a guard costs
// nothing (no_guard compiles away).
//
//   ipsec_retry::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
//   ipsec_retry::circuit_breaker breaker({.failure_threshold = 5, .cool_down = 30s});
//   auto r = ipsec_retry::retry(policy, op,
//       ipsec_retry::retry_options{.guard = ipsec_retry::guard_all{{&budget}, {&breaker}}});
#pragma once

#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace ipsec_retry {

enum class stop_reason : std::uint8_t;  // defined in retry.hpp

/// A refused call: why, and (for circuit_open) the code the guard remembers.
struct refusal {
  stop_reason reason;
  std::error_code code;  ///< empty: report the last call's code
};

/// The guard that never refuses and learns nothing: the default, free.
struct no_guard {
  static constexpr bool active = false;
  std::optional<refusal> admit(std::uint32_t) const noexcept { return std::nullopt; }
  constexpr void record(verdict, std::optional<std::uint32_t>) const noexcept {}
};

/// A shared retry budget with gRPC's retry-throttling semantics (gRFC A6):
///   tokens start at max_tokens; a failed call subtracts 1, a successful call adds token_ratio
///   (never above max_tokens, never below 0); a retry is allowed only while
///   tokens > max_tokens / 2. A first call is never refused.
/// Lock-free and thread-safe: tokens, max_tokens and token_ratio are kept in thousandths of a
/// token (each at most 10^6) packed into one atomic 64-bit word, so every update, including
/// reconfigure() while other threads use the budget, is a single compare-and-swap.
class retry_budget {
 public:
  struct settings {
    double max_tokens = 10;    ///< in (0, 1000]
    double token_ratio = 0.1;  ///< in (0, max_tokens], thousandths precision
    friend bool operator==(const settings&, const settings&) = default;
  };

  /// Parses "max_tokens=10, token_ratio=0.1"; a key not given keeps its value in `base`
  /// (the defaults above when there is none). Errors name the key and its column (from 1).
  static policy_result<settings> parse(std::string_view text);
  static policy_result<settings> parse(std::string_view text, const settings& base);
  /// Validates ranges; errors name the key.
  static policy_result<settings> make(const settings& s);

  /// `s` should be valid (see make); out-of-range values are clamped into range.
  explicit retry_budget(const settings& s) noexcept;
  retry_budget(const retry_budget&) = delete;
  retry_budget& operator=(const retry_budget&) = delete;

  /// May the caller retry now? (tokens > max_tokens / 2)
  bool allow_retry() const noexcept {
    const std::uint64_t w = word_.load(std::memory_order_relaxed);
    return field(w, tokens_shift) > field(w, max_shift) / 2;
  }
  void on_success() noexcept {
    add([](std::uint64_t w) { return static_cast<std::int64_t>(field(w, ratio_shift)); });
  }
  void on_failure() noexcept {
    add([](std::uint64_t) { return std::int64_t{-1000}; });
  }
  /// Current tokens (for reports and tests).
  double tokens() const noexcept {
    return static_cast<double>(field(word_.load(std::memory_order_relaxed), tokens_shift)) / 1000.0;
  }
  /// The settings in force (rounded to thousandths).
  settings current_settings() const noexcept;
  /// New settings, clamped into range as by the constructor. As gRPC does when a throttling
  /// config changes, the budget keeps how full it is: tokens' = tokens * max_tokens' / max_tokens
  /// (thousandths, rounded down), in the same atomic step as the new settings.
  void reconfigure(const settings& s) noexcept;

 private:
  static constexpr unsigned tokens_shift = 0;
  static constexpr unsigned max_shift = 21;
  static constexpr unsigned ratio_shift = 42;
  static constexpr std::uint64_t field_mask = (std::uint64_t{1} << 21) - 1;  // > 10^6
  static constexpr std::uint64_t field(std::uint64_t word, unsigned shift) noexcept {
    return (word >> shift) & field_mask;
  }
  static constexpr std::uint64_t pack(std::uint64_t tokens, std::uint64_t max,
                                      std::uint64_t ratio) noexcept {
    return tokens << tokens_shift | max << max_shift | ratio << ratio_shift;
  }
  static std::uint64_t packed(const settings& s, std::uint64_t tokens) noexcept;

  // tokens += delta(word), clamped into [0, max_tokens].
  template <class Delta>
  void add(Delta delta) noexcept {
    std::uint64_t w = word_.load(std::memory_order_relaxed);
    std::uint64_t next = 0;
    do {
      const auto max = static_cast<std::int64_t>(field(w, max_shift));
      const std::int64_t tokens = std::clamp<std::int64_t>(
          static_cast<std::int64_t>(field(w, tokens_shift)) + delta(w), 0, max);
      next = (w & ~(field_mask << tokens_shift)) | static_cast<std::uint64_t>(tokens)
                                                       << tokens_shift;
    } while (!word_.compare_exchange_weak(w, next, std::memory_order_relaxed));
  }

  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  std::atomic<std::uint64_t> word_;
};

/// Transport failures that say the agent's server is unreachable or overloaded:
/// RPC_S_SERVER_UNAVAILABLE 1722, RPC_S_SERVER_TOO_BUSY 1723, RPC_S_CALL_FAILED 1726,
/// RPC_S_CALL_FAILED_DNE 1727, EPT_S_NOT_REGISTERED 1753, RPC_S_COMM_FAILURE 1820.
constexpr bool is_transport_failure(std::uint32_t normalized) noexcept {
  switch (normalized) {
    case 1722:
    case 1723:
    case 1726:
    case 1727:
    case 1753:
    case 1820:
      return true;
    default:
      return false;
  }
}

/// A circuit breaker for one agent endpoint (server). After failure_threshold consecutive
/// transport failures it opens: calls are refused at once (circuit_open, keeping the last
/// code) for cool_down. Then one probe call is let through (half-open): a transport failure
/// opens it again, anything else closes it. Thread-safe (one mutex).
class circuit_breaker {
 public:
  enum class state : std::uint8_t { closed, open, half_open };
  struct settings {
    std::uint32_t failure_threshold = 5;  ///< consecutive transport failures that open it (>= 1)
    std::chrono::nanoseconds cool_down = std::chrono::seconds{30};  ///< open for this long
  };

  template <clock_source Clock>
  circuit_breaker(const settings& s, Clock clock)
      : settings_(s), now_([clock]() mutable { return clock.now(); }) {
    if (settings_.failure_threshold == 0) settings_.failure_threshold = 1;
  }
  explicit circuit_breaker(const settings& s) : circuit_breaker(s, steady_clock_source{}) {}
  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  /// Whether a call may go ahead now; when half-open, only the first caller (the probe) may.
  std::optional<refusal> admit();
  /// A call's outcome: `code` is its normalized Windows code (if it had one).
  void record(verdict v, std::optional<std::uint32_t> code);

  state current() const;
  /// The last transport failure code seen (ERROR_SUCCESS before any).
  std::error_code last_code() const;

 private:
  settings settings_;
  std::function<time_point()> now_;
  mutable std::mutex mutex_;
  state state_ = state::closed;
  std::uint32_t consecutive_ = 0;
  time_point open_until_{};
  bool probe_in_flight_ = false;
  std::uint32_t last_code_ = 0;
};

/// One circuit breaker per agent endpoint (server name; "" = this machine). The references
/// returned stay valid for the registry's lifetime. Thread-safe.
class circuit_breakers {
 public:
  template <clock_source Clock = steady_clock_source>
  explicit circuit_breakers(const circuit_breaker::settings& s, Clock clock = {})
      : settings_(s), now_([clock]() mutable { return clock.now(); }) {}

  circuit_breaker& for_server(std::wstring_view server);

 private:
  circuit_breaker::settings settings_;
  std::function<time_point()> now_;
  std::mutex mutex_;
  std::map<std::wstring, circuit_breaker, std::less<>> breakers_;
};

/// Guard adapters for retry_options::guard. A budget_guard without a budget (nullptr) refuses
/// nothing and records nothing, so a call site with no budget attached can pass its guard too.
struct budget_guard {
  static constexpr bool active = true;
  retry_budget* budget = nullptr;
  std::optional<refusal> admit(std::uint32_t call) const noexcept;
  void record(verdict v, std::optional<std::uint32_t>) const noexcept;
};

struct breaker_guard {
  static constexpr bool active = true;
  circuit_breaker* breaker;
  std::optional<refusal> admit(std::uint32_t) const { return breaker->admit(); }
  void record(verdict v, std::optional<std::uint32_t> code) const { breaker->record(v, code); }
};

/// Both guards: a call must pass each; both learn every verdict.
template <class First, class Second>
struct guard_all {
  static constexpr bool active = true;
  First first;
  Second second;
  std::optional<refusal> admit(std::uint32_t call) const {
    if (auto refused = first.admit(call)) return refused;
    return second.admit(call);
  }
  void record(verdict v, std::optional<std::uint32_t> code) const {
    first.record(v, code);
    second.record(v, code);
  }
};
template <class First, class Second>
guard_all(First, Second) -> guard_all<First, Second>;

}  // namespace ipsec_retry
