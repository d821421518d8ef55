// SPDX-License-Identifier: BSL-1.0
// Fuzz target: the step API (retry_state) fed random policies, verdicts and clock readings
// (including clocks that jump backwards). Invariants:
//   * a delay is never negative and never over max_delay;
//   * no call is scheduled after the deadline;
//   * no more calls than `attempts`;
//   * the sequence succeeds iff the last verdict was success.
#include <ipsec_retry/retry.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace ir = ipsec_retry;
using std::chrono::nanoseconds;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  ir::retry_settings s;
  if (in.ConsumeBool()) s.attempts = in.ConsumeIntegralInRange<std::uint32_t>(0, 40);
  if (in.ConsumeBool()) {
    s.timeout.reset();
  } else {
    s.timeout = nanoseconds{in.ConsumeIntegralInRange<std::int64_t>(-5, INT64_MAX)};
  }
  s.delays.strategy = static_cast<ir::backoff_strategy>(in.ConsumeIntegralInRange<int>(0, 3));
  s.delays.initial = nanoseconds{in.ConsumeIntegral<std::int64_t>()};
  s.delays.max_delay = nanoseconds{in.ConsumeIntegral<std::int64_t>()};
  if (in.ConsumeBool()) s.delays.step = nanoseconds{in.ConsumeIntegral<std::int64_t>()};
  s.delays.multiplier = in.ConsumeFloatingPoint<double>();
  s.delays.jitter = static_cast<ir::jitter_mode>(in.ConsumeIntegralInRange<int>(0, 3));
  s.delays.jitter_percent = in.ConsumeFloatingPoint<double>();
  s.on_deadline = in.ConsumeBool() ? ir::at_deadline::final_call : ir::at_deadline::give_up;
  const auto policy = ir::retry_policy::make(s);
  if (!policy) return 0;  // invalid settings are refused, never used

  constexpr std::int64_t span = 1ll << 62;  // clock readings anywhere in [-2^62, 2^62]
  const ir::time_point start{nanoseconds{in.ConsumeIntegralInRange<std::int64_t>(-span, span)}};
  std::optional<ir::time_point> absolute;
  if (in.ConsumeBool()) {
    absolute = ir::time_point{nanoseconds{in.ConsumeIntegralInRange<std::int64_t>(-span, span)}};
  }
  ir::retry_state state(policy.value(), start, absolute, in.ConsumeIntegral<std::uint64_t>());
  const auto deadline = state.deadline();
  const nanoseconds cap = policy.value().delays().max_delay;

  ir::time_point now = start;
  for (std::uint32_t call = 1; call <= 200; ++call) {
    const auto verdict = static_cast<ir::verdict>(in.ConsumeIntegralInRange<int>(0, 2));
    // The call takes some time; sometimes the clock jumps backwards.
    const auto step = in.ConsumeIntegralInRange<std::int64_t>(-1'000'000'000, 10'000'000'000);
    now = ir::time_point{nanoseconds{std::max<std::int64_t>(
        -span, std::min<std::int64_t>(now.time_since_epoch().count() + step, span))}};
    const ir::next_step next = state.on_call_end(verdict, now);
    if (state.calls() != call) std::abort();
    if (policy.value().settings().attempts && call > *policy.value().settings().attempts) {
      std::abort();
    }
    if ((next.what == ir::next_step::action::succeed) != (verdict == ir::verdict::success)) {
      std::abort();
    }
    if (next.what != ir::next_step::action::call_again) return 0;
    if (next.delay < nanoseconds::zero() || next.delay > cap) std::abort();
    if (deadline) {
      // now + delay <= deadline, evaluated without overflow (now is within +-2^62).
      const bool after = now.time_since_epoch().count() < 0 ? now + next.delay > *deadline
                                                            : next.delay > *deadline - now;
      if (now >= *deadline || after) std::abort();
    }
    // Stop where the next reading would leave the clock's range.
    const std::int64_t ticks = now.time_since_epoch().count();
    if (next.delay.count() > span - std::max<std::int64_t>(ticks, 0)) return 0;
    now += next.delay;
    if (in.remaining_bytes() == 0) return 0;
  }
  return 0;
}
