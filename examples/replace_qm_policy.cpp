// SPDX-License-Identifier: BSL-1.0
// Replace a Quick Mode policy that a transport filter uses, while another management client
// holds that filter open (docs/simulator.md, "The replace story").
//
// The filter's delete is accepted, but the filter stays pending deletion, still using the
// policy, until the other client closes its handle (here after 730 ms); until then
// DeleteQMPolicy fails with ERROR_IPSEC_QM_POLICY_IN_USE (13002). The replace composite
// retries each step at its own call site and prints every attempt.
//
//   replace_qm_policy            simulated Policy Agent, virtual time (any OS)
//   replace_qm_policy --real N   Windows only: delete and re-add policy N, which no filter may
//                                use (needs admin)
#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/composites.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#ifdef _WIN32
#include <ipsec_retry/ipsec/windows_agent.hpp>
#endif

#include <array>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;

namespace {

// "+1270 ms", or "+3.25 ms" when not whole.
std::string at(std::chrono::nanoseconds t) {
  std::ostringstream out;
  out << "+" << std::chrono::duration<double, std::milli>(t).count() << " ms";
  return out.str();
}

std::string describe(ir::win32_error code) {
  const auto info = ir::find_code(ir::to_underlying(code));
  return (info ? std::string(info->name) : std::to_string(ir::to_underlying(code)));
}

// Prints each attempt of one operation: when it started, what the agent said, what is next.
template <class Clock>
struct attempt_printer {
  Clock clock;
  ir::time_point origin;
  void operator()(std::uint32_t call, const std::error_code& code,
                  std::chrono::nanoseconds next) const {
    std::cout << "  " << std::left << std::setw(14) << at(clock.now() - origin) << "call " << call
              << ": " << describe(ir::win32_error{static_cast<std::uint32_t>(code.value())})
              << " -> retry in " << at(next).substr(1) << '\n';
  }
};

// The story, against any agent and clock.
template <class Agent, class Clock, class Sleeper>
int replace(Agent& agent, const std::wstring& name, ipsec::native_policy body, Clock clock,
            Sleeper sleeper, const ipsec::call_site_registry& sites) {
  const ir::time_point origin = clock.now();
  const auto options = [&] {
    return ir::options()
        .with_clock_and_sleeper(clock, sleeper)
        .with_on_retry(attempt_printer<Clock>{clock, origin});
  };

  const auto delete_policy = sites.policy("qm.delete").value();
  std::cout << "1. DeleteQMPolicy  [qm.delete: " << delete_policy.format() << "]\n";
  const auto deleted = ipsec::delete_qm_policy(agent, name, delete_policy, options());
  if (!deleted) {
    std::cout << "  failed: " << deleted.error().message() << '\n';
    return 1;
  }
  std::cout << "  " << std::left << std::setw(14) << at(clock.now() - origin) << "call "
            << deleted.value().calls << ": " << describe(deleted.value().code)
            << " (the delete is accepted; SAs still use the policy, so it stays pending "
               "deletion)\n";

  const auto add_policy = sites.policy("qm.add").value();
  std::cout << "2. AddQMPolicy     [qm.add: " << add_policy.format() << "]\n";
  const auto added = ipsec::add_qm_policy(agent, name, body, add_policy, options());
  if (!added) {
    std::cout << "  failed: " << added.error().message() << '\n';
    return 1;
  }
  std::cout << "  " << std::left << std::setw(14) << at(clock.now() - origin) << "call "
            << added.value().calls << ": " << describe(added.value().code) << '\n';
  std::cout << "Replaced in " << at(clock.now() - origin).substr(1) << " with "
            << deleted.value().calls + added.value().calls << " agent calls.\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Per-call-site limits, as a host would read them from its configuration file.
  ipsec::call_site_registry sites;
  if (auto loaded = sites.load_config("qm.add: initial=10ms, jitter=none   # readable demo\n");
      !loaded) {
    std::cerr << loaded.error().message() << '\n';
    return 2;
  }

  if (argc == 3 && std::strcmp(argv[1], "--real") == 0) {
#ifdef _WIN32
    ipsec::windows_agent agent;
    const std::string narrow = argv[2];
    const std::wstring name(narrow.begin(), narrow.end());
    auto fetched = agent.fetch_policy(ipsec::policy_kind::quick_mode, name);
    if (!fetched) {
      std::cerr << "GetQMPolicy failed: " << fetched.error().message() << " "
                << agent.last_unavailable() << '\n';
      return 1;
    }
    std::cout << "Replacing QM policy \"" << narrow << "\" through winipsec.dll\n";
    return replace(agent, name, fetched.value().get(), ir::steady_clock_source{},
                   ir::real_sleeper{}, sites);
#else
    std::cerr << "--real needs Windows (winipsec.dll)\n";
    return 2;
#endif
  }
  if (argc != 1) {
    std::cerr << "usage: replace_qm_policy [--real POLICY_NAME]\n";
    return 2;
  }

  ir::virtual_time time;
  ipsec::simulated_agent agent(time.clock());
  agent.install(ipsec::policy_kind::quick_mode, L"corp-qm");
  ipsec::native_filter filter;
  filter.kind = ipsec::filter_kind::transport;
  filter.id = {0x1f17e400, 1, 0x4000, {1, 2, 3, 4, 5, 6, 7, 8}};
  filter.policy = L"corp-qm";
  filter.flags = ipsec::persist_spd_object;
  std::array<ipsec::replaced_filter, 1> filters{
      {{ipsec::filter_handle(agent, filter.kind,
                             agent.install_filter(agent.default_client(), filter)),
        filter}}};
  auto& other = agent.connect();  // another management client, e.g. an MMC snap-in
  (void)agent.hold_until(other, agent.install_filter(other, filter), time.now() + 730ms);
  std::cout << "Replacing QM policy \"corp-qm\", used by a transport filter that another "
               "management client\nholds open for 730 ms (simulated Policy Agent; virtual "
               "time)\n";

  const ir::time_point origin = time.now();
  const auto step = [&](std::string_view site) { return sites.policy(site).value(); };
  const ir::retry_policy filter_delete = step("transport_filter.delete");
  const ir::retry_policy policy_delete = step("qm.delete");
  const ir::retry_policy policy_add = step("qm.add");
  const ir::retry_policy filter_add = step("transport_filter.add");
  const ipsec::composite_report report = ipsec::replace_policy(
      agent, ipsec::policy_kind::quick_mode, L"corp-qm", L"corp-qm", {}, std::span(filters),
      {&filter_delete, &policy_delete, &policy_add, &filter_add, nullptr},
      ir::options().with_time(time).with_on_retry(
          attempt_printer<ir::virtual_clock>{time.clock(), origin}));
  for (const ipsec::step_report& s : report.step_list()) {
    std::cout << "  " << std::left << std::setw(24) << s.name() << " "
              << (!s.ran      ? "not run"
                  : s.stopped ? ir::to_string(*s.stopped)
                              : "succeeded")
              << ", " << s.calls << (s.calls == 1 ? " call\n" : " calls\n");
  }
  if (!report) {
    std::cout << "Failed at " << report.failed_step_name() << "; left: " << report.left_behind()
              << '\n';
    return 1;
  }
  std::cout << "Replaced in " << at(report.elapsed).substr(1) << " with " << report.agent_calls
            << " agent calls.\n";
  return 0;
}
