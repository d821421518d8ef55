// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: protecting the Policy Agent from retry storms.
//
// A guard sits in front of every call retry() makes: it may refuse a call (the loop then stops
// with the guard's reason) and it learns every call's verdict. Guards are shared between call
// sites and threads; the loop holds only a pointer, and retry_options{} without a guard costs
// nothing (no_guard compiles away).
//
//   ipsec_retry::retry_budget budget({.max_tokens = 10, .token_ratio = 0.1});
//   ipsec_retry::circuit_breaker breaker({.failure_threshold = 5, .cool_down = 30s});
//   auto both = ipsec_retry::guard_all{ipsec_retry::budget_guard{&budget},
//                                      ipsec_retry::breaker_guard{&breaker}};
//   auto r = ipsec_retry::retry(policy, op, ipsec_retry::options().with_guard(both));
//
// The guard contract (what retry(), the typed operations, the CLI simulator and any event loop
// of yours rely on). A guard G is a copyable value with
//   static constexpr bool active;       false only for no_guard: the loop then skips the guard
//   using ticket = T;                   what one admission is; no_ticket when the guard keeps
//                                       nothing per call (it is empty and costs nothing)
//   admission<T> admit(std::uint32_t call) const;     `call`: the caller's call number, from 1
//   void record(const T&, verdict, std::optional<std::uint32_t> code) const noexcept;
//   void release(const T&) const noexcept;
// Every admission that was not refused ends in exactly one record() or one release(), each
// handed the ticket that admit() returned:
//   * record: the call was made and returned; `code` is its normalized Windows code (if any).
//   * release: no verdict will come — the call was not made (a later guard refused, a stop
//     arrived, the caller joined a coalesced wait instead, it left the loop) or it was made and
//     threw. A release is not a verdict: it says nothing about the server.
// held_admission keeps that promise for a loop: it releases on destruction unless the call was
// recorded, so an exception or an early return cannot leak an admission.
// The contract's types (refusal, no_ticket, admission, no_guard, held_admission) are declared in
// detail/guard_contract.hpp, which this header and retry_options.hpp include: the retry loop
// needs them, and a lower layer (retry) does not include a higher one (guards).
// Decision rules for a guard writer:
//   * Reserve something at admit (a probe slot, a concurrency slot)? Give it back in record
//     and in release alike. Reserve nothing (a budget that only learns from verdicts)? Use
//     no_ticket and make release do nothing.
//   * Results can arrive late and out of order (a call admitted before the state changed may
//     return after it). Decide from the ticket which admission a result belongs to, never from
//     the order of arrival.
//   * record and release must not throw: they run on every path, destructors included.
#pragma once

#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/detail/code_meaning.hpp>
#include <ipsec_retry/detail/guard_contract.hpp>
#include <ipsec_retry/retry_error.hpp>
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
#include <utility>

namespace ipsec_retry {

/// A shared retry budget with gRPC's retry-throttling arithmetic (gRFC A6):
///   tokens start at max_tokens; on_failure() subtracts 1, on_success() adds token_ratio
///   (never above max_tokens, never below 0); a retry is allowed only while
///   tokens > max_tokens / 2. A first call is never refused.
/// Which calls count is budget_guard's rule (below): a success refills, a failure whose code
/// signals_overload() is charged, any other failure (a pending deletion above all) is neither.
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
  /// "max_tokens=10, token_ratio=0.1": both keys, shortest decimals; parse(format(s)) == s.
  static std::string format(const settings& s);

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
/// The rows `transport` of detail/code_table.inc. (Whether a call may have run is
/// classify.hpp's business, not this list's.)
constexpr bool is_transport_failure(std::uint32_t normalized) noexcept {
  return detail::code_column::load_of(normalized) == detail::code_column::load::transport;
}

/// Whether a (normalized) code says the agent is struggling: the only failures a retry budget
/// is charged for. They are the transport failures above (the agent's server cannot be reached
/// or refuses the call: RPC_S_SERVER_UNAVAILABLE 1722, RPC_S_SERVER_TOO_BUSY 1723,
/// RPC_S_CALL_FAILED 1726, RPC_S_CALL_FAILED_DNE 1727, EPT_S_NOT_REGISTERED 1753,
/// RPC_S_COMM_FAILURE 1820) and the codes by which a reachable agent says it is too busy or too
/// slow to answer: ERROR_BUSY 170, ERROR_TIMEOUT 1460, FWP_E_TIMEOUT 0x80320012. Retrying more
/// makes each of these worse, which is what a budget exists to prevent. They are the rows
/// `overload` and `transport` of detail/code_table.inc.
/// Not in the set, on purpose:
///   * the *_PENDING_DELETION codes 13018..13023: the state of one object, reported promptly by
///     a healthy agent; waiting it out is the retry loop's job, and charging it made a single
///     caller fail a 730 ms deletion with budget_exhausted after 5 calls;
///   * ERROR_RETRY 1237: "try again", with no claim about load;
///   * RPC_S_CALL_CANCELLED 1818: usually this process's own cancellation;
///   * IN_USE, EXISTS, NOT_FOUND, access and argument errors: answers about the request.
constexpr bool signals_overload(std::uint32_t normalized) noexcept {
  return detail::code_column::load_of(normalized) != detail::code_column::load::none;
}

/// A circuit breaker for one agent endpoint (server). After failure_threshold consecutive
/// transport failures it opens: calls are refused at once (circuit_open, keeping the last
/// code) for cool_down. Then one probe call is let through (half-open): a transport failure
/// opens it again, anything else closes it. Thread-safe (one mutex).
/// It cannot wedge half-open:
///   * a probe that will not report (released: it threw, a later guard refused, a stop came
///     before the call) frees the slot, and the next caller is the probe;
///   * a probe still out after cool_down (a hung call) is written off: the next caller is a
///     new probe, and the old one's result, if it ever comes, no longer counts.
/// Only the probe's own result decides the half-open state. Each state change starts a new
/// epoch, and a ticket carries the epoch it was admitted in: a result from an older epoch (a
/// call admitted before the breaker opened that returns late) is ignored, so it can neither
/// close nor reopen the breaker, nor count towards opening it again.
class circuit_breaker {
 public:
  enum class state : std::uint8_t { closed, open, half_open };
  struct settings {
    std::uint32_t failure_threshold = 5;  ///< consecutive transport failures that open it (>= 1)
    std::chrono::nanoseconds cool_down = std::chrono::seconds{30};  ///< open for this long (> 0)
    friend bool operator==(const settings&, const settings&) = default;
  };
  /// Parses "failure_threshold=5, cool_down=30s" (cool_down a duration as in the policy
  /// string); a key not given keeps its value in `base` (the defaults above when there is
  /// none). Errors name the key and its column (from 1).
  static policy_result<settings> parse(std::string_view text);
  static policy_result<settings> parse(std::string_view text, const settings& base);
  /// Validates: failure_threshold >= 1, cool_down > 0; errors name the key.
  static policy_result<settings> make(const settings& s);
  /// "failure_threshold=5, cool_down=30s"; parse(format(s)) == s.
  static std::string format(const settings& s);
  /// One admission: the epoch it belongs to and whether it is the half-open probe.
  struct ticket {
    std::uint64_t epoch = 0;
    bool probe = false;
  };

  template <clock_source Clock>
  circuit_breaker(const settings& s, Clock clock)
      : settings_(s), now_([clock]() mutable { return clock.now(); }) {
    if (settings_.failure_threshold == 0) settings_.failure_threshold = 1;
  }
  explicit circuit_breaker(const settings& s) : circuit_breaker(s, steady_clock_source{}) {}
  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  /// Whether a call may go ahead now; when half-open, only the probe may.
  admission<ticket> admit();
  /// The admitted call's outcome: `code` is its normalized Windows code (if it had one).
  void record(const ticket& t, verdict v, std::optional<std::uint32_t> code) noexcept;
  /// The admitted call will not report (see the guard contract at the top).
  void release(const ticket& t) noexcept;

  state current() const;
  /// New settings (a threshold of 0 counts as 1). The state, its epoch and the failures
  /// counted so far stay; an open breaker keeps the reopening time its cool-down gave it.
  void reconfigure(const settings& s);
  /// The settings in force.
  settings current_settings() const;
  /// The last transport failure code seen (ERROR_SUCCESS before any).
  std::error_code last_code() const;

 private:
  void enter(state s) noexcept;  // with mutex_ held: a new state, a new epoch

  settings settings_;
  std::function<time_point()> now_;
  mutable std::mutex mutex_;
  state state_ = state::closed;
  std::uint64_t epoch_ = 0;
  std::uint32_t consecutive_ = 0;
  time_point open_until_{};
  bool probe_in_flight_ = false;
  time_point probe_since_{};
  std::uint32_t last_code_ = 0;
};

/// The upper-case mapping Windows applies when it compares names ordinally ignoring case
/// (CompareStringOrdinal with bIgnoreCase, RtlCompareUnicodeString with CaseInSensitive): each
/// UTF-16 unit is mapped through the simple (one-to-one) upper-case table; nothing is
/// normalized, folded to several characters or compared by locale. Mapped here: ASCII a-z;
/// Latin-1 U+00E0..U+00FE except U+00F7 (division sign), minus 0x20; U+00FF to U+0178 and
/// U+00B5 (micro sign) to U+039C, as in the table. U+00DF (sharp s) has no simple upper case
/// and stays. Letters beyond Latin-1 are compared exactly: two names that differ only in their
/// case there get two breakers, which loses sharing but never merges two servers.
constexpr wchar_t ordinal_upcase(wchar_t c) noexcept {
  const auto u = static_cast<std::uint32_t>(c);
  if (u >= 'a' && u <= 'z') return static_cast<wchar_t>(u - 0x20);
  if (u == 0xB5) return static_cast<wchar_t>(0x39C);
  if (u >= 0xE0 && u <= 0xFE && u != 0xF7) return static_cast<wchar_t>(u - 0x20);
  if (u == 0xFF) return static_cast<wchar_t>(0x178);
  return c;
}

/// Orders server names as Windows compares them (ordinal_upcase on every unit).
struct server_name_less {
  using is_transparent = void;
  constexpr bool operator()(std::wstring_view a, std::wstring_view b) const noexcept {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](wchar_t x, wchar_t y) {
                                          return static_cast<std::uint32_t>(ordinal_upcase(x)) <
                                                 static_cast<std::uint32_t>(ordinal_upcase(y));
                                        });
  }
};

/// One circuit breaker per agent endpoint. Server names compare as Windows compares them,
/// ignoring case (server_name_less): L"srv1" and L"SRV1" share one breaker. Nothing else is
/// equated: "" (this machine), L"." and L"localhost" are separate keys, since the library cannot
/// know that the agent's binding resolves them to the same server; pass one spelling for one
/// server. The references returned stay valid for the registry's lifetime. Thread-safe; a
/// lookup of a known server allocates nothing.
class circuit_breakers {
 public:
  template <clock_source Clock = steady_clock_source>
  explicit circuit_breakers(const circuit_breaker::settings& s, Clock clock = {})
      : settings_(s), now_([clock]() mutable { return clock.now(); }) {}

  circuit_breaker& for_server(std::wstring_view server);
  /// New settings for every breaker, those to come and those there are (as their reconfigure).
  void reconfigure(const circuit_breaker::settings& s);
  /// The settings new breakers get.
  circuit_breaker::settings current_settings() const;

 private:
  circuit_breaker::settings settings_;
  std::function<time_point()> now_;
  mutable std::mutex mutex_;
  std::map<std::wstring, circuit_breaker, server_name_less> breakers_;
};

/// Guard adapters for retry_options::guard. A budget_guard without a budget (nullptr) refuses
/// nothing and records nothing, so a call site with no budget attached can pass its guard too.
/// Its rule: a success refills the budget (token_ratio); a failure is charged 1 token only when
/// its code signals_overload(); any other failure, or a code that is not a Windows code, leaves
/// the budget as it is. It keeps nothing per call: its ticket is empty and release is free.
struct budget_guard {
  static constexpr bool active = true;
  using ticket = no_ticket;
  retry_budget* budget = nullptr;
  admission<ticket> admit(std::uint32_t call) const noexcept;
  void record(const ticket&, verdict v, std::optional<std::uint32_t> code) const noexcept;
  constexpr void release(const ticket&) const noexcept {}
};

struct breaker_guard {
  static constexpr bool active = true;
  using ticket = circuit_breaker::ticket;
  circuit_breaker* breaker;
  admission<ticket> admit(std::uint32_t) const { return breaker->admit(); }
  void record(const ticket& t, verdict v, std::optional<std::uint32_t> code) const noexcept {
    breaker->record(t, v, code);
  }
  void release(const ticket& t) const noexcept { breaker->release(t); }
};

/// Both guards: a call must pass each, in order; both learn every verdict. When the second
/// refuses (or its admit throws), the first's admission is released.
template <class First, class Second>
struct guard_all {
  static constexpr bool active = true;
  struct ticket {
    [[no_unique_address]] typename First::ticket first;
    [[no_unique_address]] typename Second::ticket second;
  };
  First first;
  Second second;
  admission<ticket> admit(std::uint32_t call) const {
    held_admission<First> held(first);
    if (auto refused = held.admit(call)) return {refused, {}};
    admission<typename Second::ticket> b = second.admit(call);
    if (b.refused) return {b.refused, {}};  // `held` releases the first's admission
    return {std::nullopt, {held.take(), b.ticket}};
  }
  void record(const ticket& t, verdict v, std::optional<std::uint32_t> code) const noexcept {
    first.record(t.first, v, code);
    second.record(t.second, v, code);
  }
  void release(const ticket& t) const noexcept {
    first.release(t.first);
    second.release(t.second);
  }
};
template <class First, class Second>
guard_all(First, Second) -> guard_all<First, Second>;

}  // namespace ipsec_retry
