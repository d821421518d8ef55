// SPDX-License-Identifier: BSL-1.0
// What a typed operation (the operation engine, docs/policies.md) adds to retry(), in the
// same binary:
//
//   BM_agent_call                the agent's Delete alone: the floor
//   BM_retry_agent_call          retry(policy, [&] { return agent.delete_policy(...); })
//   BM_typed_delete              ipsec::delete_qm_policy(agent, name, policy): the engine's
//                                idempotency rules, guard admission and completion, first call
//                                succeeding (real clock)
//   BM_typed_delete_virtual_time/N
//                                delete_qm_policy in virtual time: N PENDING_DELETION (13023)
//                                answers, then NOT_FOUND (13001) = gone_after_pending
//   BM_retry_virtual_time/N      retry() over the same agent answers, for the per-retry figure
//
// The agent is a plain struct whose answers come from a volatile, so nothing folds away. The
// marginal cost of one retry is (time(64) - time(1)) / 63. Every benchmark reports
// "allocs/iter", which must be 0.
#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/retry.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string_view>

#include "allocation_report.hpp"  // and counting_new.hpp: this binary counts every new

namespace {

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using bench_support::allocations;
using bench_support::report_allocations;

constexpr std::uint32_t pending_deletion = 13023;  // ERROR_IPSEC_QM_POLICY_PENDING_DELETION
constexpr std::uint32_t not_found = 13001;         // ERROR_IPSEC_QM_POLICY_NOT_FOUND

// An agent with only the policy calls (the seam's shape; call_agent needs nothing more): its
// Delete answers PENDING_DELETION `pending` times, then `final_code`.
struct scripted_agent {
  volatile std::uint32_t final_code = 0;
  std::uint32_t pending = 0;
  ir::win32_error answer() noexcept {
    if (pending == 0) return ir::win32_error{final_code};
    --pending;
    return ir::win32_error{pending_deletion};
  }
  ir::win32_error add_policy(ipsec::policy_kind, std::wstring_view, ipsec::native_policy) {
    return answer();
  }
  ir::win32_error set_policy(ipsec::policy_kind, std::wstring_view, ipsec::native_policy) {
    return answer();
  }
  ir::win32_error delete_policy(ipsec::policy_kind, std::wstring_view) { return answer(); }
  ir::win32_error get_policy(ipsec::policy_kind, std::wstring_view) { return answer(); }
};

constexpr std::wstring_view name = L"corp-qm";

ir::retry_policy site_policy() {
  return ir::retry_policy::parse("timeout=60s, initial=50ms, max_delay=2s, seed=42").value();
}

// Times `body()` per iteration and reports its allocations; `reset()` runs first in each
// iteration (it restores the agent's script and the virtual clock).
template <class Body, class Reset>
void run_counted(benchmark::State& state, Body body, Reset reset) {
  const std::uint64_t before = allocations();
  for (auto _ : state) {
    reset();
    auto r = body();
    benchmark::DoNotOptimize(r);
  }
  report_allocations(state, allocations() - before);
}
constexpr auto nothing_to_reset = [] {};

void BM_agent_call(benchmark::State& state) {
  scripted_agent agent;
  run_counted(
      state, [&] { return agent.delete_policy(ipsec::policy_kind::quick_mode, name); },
      nothing_to_reset);
}
BENCHMARK(BM_agent_call);

void BM_retry_agent_call(benchmark::State& state) {
  scripted_agent agent;
  const ir::retry_policy policy = site_policy();
  run_counted(
      state,
      [&] {
        return ir::retry(policy,
                         [&] { return agent.delete_policy(ipsec::policy_kind::quick_mode, name); });
      },
      nothing_to_reset);
}
BENCHMARK(BM_retry_agent_call);

void BM_typed_delete(benchmark::State& state) {
  scripted_agent agent;
  const ir::retry_policy policy = site_policy();
  run_counted(
      state, [&] { return ipsec::delete_qm_policy(agent, name, policy); }, nothing_to_reset);
}
BENCHMARK(BM_typed_delete);

// The virtual-time runs: `retries` PENDING_DELETION answers, then `final_code`; the per-retry
// counter divides the whole iteration by the retries (so it overstates small N).
template <class Run>
void run_virtual_time(benchmark::State& state, std::uint32_t final_code, Run run) {
  const auto retries = static_cast<std::uint32_t>(state.range(0));
  scripted_agent agent;
  agent.final_code = final_code;
  const ir::retry_policy policy = site_policy();
  ir::virtual_time vt;
  const auto options = ir::options().with_time(vt);
  run_counted(
      state, [&] { return run(agent, policy, options); },
      [&] {
        agent.pending = retries;
        vt.set(ir::time_point{});
      });
  state.counters["retries"] = static_cast<double>(retries);
  if (retries != 0) {
    state.counters["per_retry"] = benchmark::Counter(
        static_cast<double>(retries),
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  }
}

void BM_typed_delete_virtual_time(benchmark::State& state) {
  run_virtual_time(state, not_found, [](auto& agent, const auto& policy, const auto& options) {
    return ipsec::delete_qm_policy(agent, name, policy, options);
  });
}
BENCHMARK(BM_typed_delete_virtual_time)->Arg(0)->Arg(1)->Arg(8)->Arg(64);

void BM_retry_virtual_time(benchmark::State& state) {
  run_virtual_time(state, 0, [](auto& agent, const auto& policy, const auto& options) {
    return ir::retry(
        policy, [&] { return agent.delete_policy(ipsec::policy_kind::quick_mode, name); }, options);
  });
}
BENCHMARK(BM_retry_virtual_time)->Arg(0)->Arg(1)->Arg(8)->Arg(64);

}  // namespace
