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

constexpr std::int64_t ns_max = std::numeric_limits<std::int64_t>::max();

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
  const auto cap = b.max_delay < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero()
                                                                  : b.max_delay;
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
  const auto cap = b.max_delay < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero()
                                                                  : b.max_delay;
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
/// decorrelated state and the random source; a plain value, no allocation.
class backoff_schedule {
 public:
  backoff_schedule(const backoff& b, std::uint64_t seed) noexcept
      : backoff_(b), rng_(seed), previous_(base_delay(b, 1)) {}

  /// The delay after the next failed call: d_k for k = 1, 2, ..., always in [0, max_delay].
  std::chrono::nanoseconds next() noexcept {
    ++k_;
    std::chrono::nanoseconds d{};
    if (backoff_.strategy == backoff_strategy::decorrelated) {
      const auto cap = backoff_.max_delay < std::chrono::nanoseconds::zero()
                           ? std::chrono::nanoseconds::zero()
                           : backoff_.max_delay;
      const double lo = static_cast<double>(base_delay(backoff_, 1).count());
      const double hi = 3.0 * static_cast<double>(previous_.count());
      d = detail::uniform_ns(lo, hi < lo ? lo : hi, cap, rng_);
      previous_ = d;
    } else {
      d = base_delay(backoff_, k_);
    }
    return apply_jitter(backoff_, d, rng_);
  }
  /// How many delays next() has produced.
  constexpr std::uint64_t produced() const noexcept { return k_; }

 private:
  backoff backoff_;
  splitmix64 rng_;
  std::chrono::nanoseconds previous_;
  std::uint64_t k_ = 0;
};

/// A seed for callers that gave none: a lock-free counter mixed with the steady clock, so
/// concurrent retry loops get different jitter. Not cryptographic.
std::uint64_t fresh_seed() noexcept;

}  // namespace ipsec_retry
