// How late the final call at the deadline starts with the real clock and the real sleeper.
//
//   deadline_lateness [RUNS]        (default 200; prints p50, p90, p99 and max in microseconds)
//
// Each run is ipsec_retry::retry() with "timeout=20ms, initial=30ms, jitter=none" and an op
// that fails transiently (ERROR_IPSEC_QM_POLICY_PENDING_DELETION) on its first call. The delay
// (30 ms) would carry past the deadline, so the loop sleeps only until 20 ms and makes its final
// call there (at_deadline=final_call), which succeeds. The op reads steady_clock at the start of
// each call; lateness = start of the final call - (start of call 1 + 20 ms). retry() reads its own
// start a few tens of nanoseconds before call 1 starts, so the figure can understate the lateness
// by that much, never overstate it.
//
// The baseline, interleaved with the library's runs in the same binary: what a hand-written loop
// gets from std::this_thread::sleep_until(start + 20 ms), lateness = wake-up - (start + 20 ms).
// The difference between the two is the sleeper's own cost; the rest is the platform's timer
// slack and wake-up latency.
//
// A plain program (no Google Benchmark), so it builds with MinGW and runs under Wine as well.
#include <ipsec_retry/retry.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

namespace ir = ipsec_retry;
using std::chrono::nanoseconds;

constexpr std::uint32_t pending_deletion = 13023;  // ERROR_IPSEC_QM_POLICY_PENDING_DELETION
constexpr auto timeout = std::chrono::milliseconds{20};

double percentile_us(const std::vector<nanoseconds>& sorted, double p) {
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[index].count()) / 1000.0;
}

void print(const char* what, long runs, std::vector<nanoseconds>& lateness) {
  std::sort(lateness.begin(), lateness.end());
  std::printf(
      "%s, %ld runs: lateness p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us, "
      "min %.1f us\n",
      what, runs, percentile_us(lateness, 0.50), percentile_us(lateness, 0.90),
      percentile_us(lateness, 0.99), percentile_us(lateness, 1.0), percentile_us(lateness, 0.0));
}

}  // namespace

int main(int argc, char** argv) {
  const long runs = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 200;
  if (runs < 1) {
    std::fprintf(stderr, "deadline_lateness: RUNS must be a positive integer, got '%s'\n", argv[1]);
    return 2;
  }
  const auto policy = ir::retry_policy::parse("timeout=20ms, initial=30ms, jitter=none").value();
  std::vector<nanoseconds> lateness, baseline;
  lateness.reserve(static_cast<std::size_t>(runs));
  baseline.reserve(static_cast<std::size_t>(runs));
  for (long run = 0; run < runs; ++run) {
    std::chrono::steady_clock::time_point starts[2]{};
    int calls = 0;
    const auto r = ir::retry(policy, [&]() -> std::uint32_t {
      const auto now = std::chrono::steady_clock::now();
      if (calls < 2) starts[calls] = now;
      return ++calls < 2 ? pending_deletion : 0u;
    });
    if (calls != 2 || !r) {
      std::fprintf(stderr,
                   "deadline_lateness: run %ld made %d calls (expected 2, the second at the "
                   "deadline, succeeding)\n",
                   run, calls);
      return 1;
    }
    lateness.push_back(starts[1] - (starts[0] + timeout));

    const auto due = std::chrono::steady_clock::now() + timeout;
    std::this_thread::sleep_until(due);
    baseline.push_back(std::chrono::steady_clock::now() - due);
  }
  print("retry(): final call at a 20 ms deadline", runs, lateness);
  print("baseline: std::this_thread::sleep_until(start + 20 ms)", runs, baseline);
  return 0;
}
