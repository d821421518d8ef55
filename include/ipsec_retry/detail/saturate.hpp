// SPDX-License-Identifier: BSL-1.0
// ipsec_retry internals: time arithmetic that saturates instead of overflowing. Clocks may read
// anywhere in the int64 range (a virtual clock set far back or far ahead), and a timeout or a
// deletion time may be nanoseconds::max(); every sum and difference of time points and
// durations in the library goes through these, so none of them wraps around.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

namespace ipsec_retry::detail {

/// a + b, clamped to the int64 range.
constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  if (b > 0 && a > hi - b) return hi;
  if (b < 0 && a < lo - b) return lo;
  return a + b;
}

/// a - b, clamped to the int64 range.
constexpr std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept {
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  if (b < 0 && a > hi + b) return hi;
  if (b > 0 && a < lo + b) return lo;
  return a - b;
}

static_assert(std::is_same_v<std::chrono::steady_clock::duration, std::chrono::nanoseconds>,
              "ipsec_retry counts steady_clock time in nanoseconds");

/// t + d, clamped to [time_point::min(), time_point::max()].
constexpr std::chrono::steady_clock::time_point saturating_advance(
    std::chrono::steady_clock::time_point t, std::chrono::nanoseconds d) noexcept {
  return std::chrono::steady_clock::time_point{
      std::chrono::nanoseconds{saturating_add(t.time_since_epoch().count(), d.count())}};
}

/// later - earlier for later >= earlier, clamped at nanoseconds::max().
constexpr std::chrono::nanoseconds saturating_distance(
    std::chrono::steady_clock::time_point earlier,
    std::chrono::steady_clock::time_point later) noexcept {
  return std::chrono::nanoseconds{
      saturating_sub(later.time_since_epoch().count(), earlier.time_since_epoch().count())};
}

/// now .. deadline: zero once the deadline has come, nanoseconds::max() without one.
constexpr std::chrono::nanoseconds time_left(
    std::chrono::steady_clock::time_point now,
    std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
  if (!deadline) return std::chrono::nanoseconds::max();
  if (*deadline <= now) return std::chrono::nanoseconds::zero();
  return saturating_distance(now, *deadline);
}

}  // namespace ipsec_retry::detail
