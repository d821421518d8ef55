// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/backoff.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace ir = ipsec_retry;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace {

ir::backoff no_jitter(ir::backoff_strategy s, nanoseconds initial, nanoseconds max_delay) {
  ir::backoff b;
  b.strategy = s;
  b.initial = initial;
  b.max_delay = max_delay;
  b.jitter = ir::jitter_mode::none;
  return b;
}

std::vector<nanoseconds> first(ir::backoff_schedule s, int n) {
  std::vector<nanoseconds> out;
  for (int i = 0; i < n; ++i) out.push_back(s.next());
  return out;
}

}  // namespace

TEST(Backoff, ConstantIsInitialForever) {
  const auto b = no_jitter(ir::backoff_strategy::constant, 50ms, 2s);
  EXPECT_EQ(first(ir::backoff_schedule(b, 1), 4),
            (std::vector<nanoseconds>{50ms, 50ms, 50ms, 50ms}));
  EXPECT_EQ(ir::base_delay(b, 1u << 31), 50ms);
}

TEST(Backoff, LinearAddsStepAndCaps) {
  auto b = no_jitter(ir::backoff_strategy::linear, 10ms, 45ms);
  EXPECT_EQ(first(ir::backoff_schedule(b, 1), 6),
            (std::vector<nanoseconds>{10ms, 20ms, 30ms, 40ms, 45ms, 45ms}));
  b.step = 5ms;
  EXPECT_EQ(first(ir::backoff_schedule(b, 1), 4),
            (std::vector<nanoseconds>{10ms, 15ms, 20ms, 25ms}));
}

TEST(Backoff, ExponentialDoublesAndCaps) {
  const auto b = no_jitter(ir::backoff_strategy::exponential, 10ms, 1s);
  EXPECT_EQ(first(ir::backoff_schedule(b, 1), 9),
            (std::vector<nanoseconds>{10ms, 20ms, 40ms, 80ms, 160ms, 320ms, 640ms, 1s, 1s}));
}

TEST(Backoff, ExponentialWithFractionalMultiplier) {
  auto b = no_jitter(ir::backoff_strategy::exponential, 100ms, 1s);
  b.multiplier = 1.5;
  EXPECT_EQ(first(ir::backoff_schedule(b, 1), 4),
            (std::vector<nanoseconds>{100ms, 150ms, 225ms, 337500us}));
}

// The schedule carries initial * multiplier^(k-1) from step to step (no std::pow); for
// multipliers a double holds exactly it must agree with the closed form at every step, capped
// steps included, however long the sequence.
TEST(Backoff, CarriedExponentialMatchesTheClosedFormForExactMultipliers) {
  for (const double multiplier : {1.0, 1.25, 1.5, 2.0, 3.0, 4.0}) {
    for (const nanoseconds initial : {nanoseconds{1}, nanoseconds{7}, nanoseconds{10ms},
                                      nanoseconds{20ms}, nanoseconds{333ms}}) {
      auto b = no_jitter(ir::backoff_strategy::exponential, initial, 2s);
      b.multiplier = multiplier;
      ir::backoff_schedule s(b, 1);
      for (std::uint64_t k = 1; k <= 200; ++k) {
        ASSERT_EQ(s.next(), ir::base_delay(b, k))
            << multiplier << " " << initial.count() << " " << k;
      }
    }
  }
}

// Finding of issue 11: d_k with multiplier 1.2 differed by 1 ns between the carried product and
// std::pow. 250ms * 1.2^5 is 622.08 ms exactly; pow's 1.2^5 lands just below and truncates to
// 622079999 ns (glibc; MinGW's pow lands on 622080000). The schedule keeps the decimal-exact
// figure on every platform; base_delay stays the closed form, whatever the platform's pow gives.
TEST(Backoff, CarriedExponentialKeepsTheDecimalExactDelayThatPowRoundsDown) {
  auto b = no_jitter(ir::backoff_strategy::exponential, 250ms, 2s);
  b.multiplier = 1.2;
  EXPECT_EQ(first(ir::backoff_schedule(b, 1), 6),
            (std::vector<nanoseconds>{250ms, 300ms, 360ms, 432ms, 518400us, 622080us}));
  const nanoseconds closed_form = ir::base_delay(b, 6);
  EXPECT_TRUE(closed_form == 622079999ns || closed_form == 622080000ns) << closed_form.count();
}

// Input retry_policy refuses (initial <= 0, multiplier below 1, NaN, infinity) is outside the
// carry's domain: the schedule then gives exactly the closed form, still in [0, max_delay].
TEST(Backoff, CarriedExponentialFallsBackToTheClosedFormOnUnvalidatedInput) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (const double multiplier : {0.5, 0.0, -2.0, nan, inf}) {
    for (const nanoseconds initial :
         {nanoseconds{-5ms}, nanoseconds{0ms}, nanoseconds{10ms}, nanoseconds{3s}}) {
      auto b = no_jitter(ir::backoff_strategy::exponential, initial, 2s);
      b.multiplier = multiplier;
      ir::backoff_schedule s(b, 1);
      for (std::uint64_t k = 1; k <= 80; ++k) {
        ASSERT_EQ(s.next(), ir::base_delay(b, k))
            << multiplier << " " << initial.count() << " " << k;
      }
    }
  }
}

// Chromium/folly pin these: 2^63 overflows int64, 2^64 overflows uint64.
TEST(Backoff, SaturatesAtTheEdges) {
  for (auto strategy : {ir::backoff_strategy::linear, ir::backoff_strategy::exponential}) {
    const auto b = no_jitter(strategy, 1ns, 2s);
    for (std::uint64_t k : {63ull, 64ull, 65ull, 1025ull, 1ull << 32, ~0ull}) {
      const auto d = ir::base_delay(b, k);
      EXPECT_GE(d, 0ns) << k;
      EXPECT_LE(d, 2s) << k;
    }
    EXPECT_EQ(ir::base_delay(b, ~0ull), 2s);
  }
  // The largest cap there is, with a huge multiplier: never negative.
  auto big = no_jitter(ir::backoff_strategy::exponential, 1s, nanoseconds::max());
  big.multiplier = 1e300;
  EXPECT_EQ(ir::base_delay(big, 1), 1s);
  EXPECT_EQ(ir::base_delay(big, 2), nanoseconds::max());
  EXPECT_EQ(ir::base_delay(big, 64), nanoseconds::max());
  // Linear with a step that overflows on the first multiplication.
  auto lin = no_jitter(ir::backoff_strategy::linear, 1s, nanoseconds::max());
  lin.step = nanoseconds::max() / 2;
  EXPECT_EQ(ir::base_delay(lin, 4), nanoseconds::max());
}

TEST(Backoff, NanAndInfinityYieldTheCap) {
  auto b = no_jitter(ir::backoff_strategy::exponential, 10ms, 1s);
  b.multiplier = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(ir::base_delay(b, 3), 1s);
  b.multiplier = std::numeric_limits<double>::infinity();
  EXPECT_EQ(ir::base_delay(b, 2), 1s);
  b.jitter = ir::jitter_mode::proportional;
  b.jitter_percent = std::numeric_limits<double>::quiet_NaN();
  ir::splitmix64 rng(1);
  EXPECT_EQ(ir::apply_jitter(b, 10ms, rng), 1s);
}

TEST(Backoff, JitterStaysInItsRangeAndUnderTheCap) {
  ir::backoff b = no_jitter(ir::backoff_strategy::constant, 100ms, 110ms);
  ir::splitmix64 rng(42);
  for (int i = 0; i < 10000; ++i) {
    b.jitter = ir::jitter_mode::full;
    auto d = ir::apply_jitter(b, 100ms, rng);
    ASSERT_GE(d, 0ms);
    ASSERT_LE(d, 100ms);
    b.jitter = ir::jitter_mode::equal;
    d = ir::apply_jitter(b, 100ms, rng);
    ASSERT_GE(d, 50ms);
    ASSERT_LE(d, 100ms);
    b.jitter = ir::jitter_mode::proportional;
    b.jitter_percent = 20;
    d = ir::apply_jitter(b, 100ms, rng);
    ASSERT_GE(d, 80ms);
    ASSERT_LE(d, 110ms) << "N% jitter is capped at max_delay again";
    b.jitter_percent = 100;
    d = ir::apply_jitter(b, 100ms, rng);
    ASSERT_GE(d, 0ms);
    ASSERT_LE(d, 110ms);
  }
}

TEST(Backoff, JitterNoneIsExactlyTheDelay) {
  // cenkalti/backoff once shipped a "no jitter" that was still random.
  ir::backoff b = no_jitter(ir::backoff_strategy::exponential, 10ms, 1s);
  EXPECT_EQ(first(ir::backoff_schedule(b, 1), 5), first(ir::backoff_schedule(b, 999), 5));
}

TEST(Backoff, SameSeedSameSchedule) {
  ir::backoff b;  // defaults: exponential with 20% jitter
  EXPECT_EQ(first(ir::backoff_schedule(b, 7), 20), first(ir::backoff_schedule(b, 7), 20));
  EXPECT_NE(first(ir::backoff_schedule(b, 7), 20), first(ir::backoff_schedule(b, 8), 20));
}

TEST(Backoff, JitteredValuesWithAFixedSeedAreReproducible) {
  ir::backoff b = no_jitter(ir::backoff_strategy::constant, 100ms, 1s);
  b.jitter = ir::jitter_mode::full;
  ir::splitmix64 rng(1);
  const double u = ir::splitmix64(1).unit();  // the first uniform draw for seed 1
  EXPECT_EQ(ir::apply_jitter(b, 100ms, rng), nanoseconds(static_cast<std::int64_t>(u * 1e8)));
}

TEST(Backoff, DecorrelatedStaysBetweenInitialAndThreeTimesThePrevious) {
  ir::backoff b = no_jitter(ir::backoff_strategy::decorrelated, 10ms, 10s);
  ir::backoff_schedule s(b, 3);
  nanoseconds previous = 10ms;
  for (int i = 0; i < 1000; ++i) {
    const auto d = s.next();
    ASSERT_GE(d, 10ms);
    ASSERT_LE(d, std::min<nanoseconds>(3 * previous, 10s));
    previous = d;
  }
  EXPECT_EQ(s.produced(), 1000u);
}

TEST(Backoff, DecorrelatedReachesTheCapAndStaysUnderIt) {
  ir::backoff b = no_jitter(ir::backoff_strategy::decorrelated, 10ms, 200ms);
  ir::backoff_schedule s(b, 5);
  nanoseconds max_seen{};
  for (int i = 0; i < 200; ++i) max_seen = std::max(max_seen, s.next());
  EXPECT_EQ(max_seen, 200ms);
}

TEST(Backoff, SplitMix64MatchesTheReferenceSequence) {
  // Reference values of splitmix64 seeded with 0 (Vigna's splitmix64.c).
  ir::splitmix64 rng(0);
  EXPECT_EQ(rng(), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(rng(), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(rng(), 0x06C45D188009454Full);
}

TEST(Backoff, FreshSeedsDiffer) {
  EXPECT_NE(ir::fresh_seed(), ir::fresh_seed());
}
