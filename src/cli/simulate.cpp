// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate`: a policy against the simulated Policy Agent, in virtual time.
#include <ipsec_retry/ipsec/operations.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inject.hpp"
#include "json.hpp"
#include "output.hpp"
#include "recording_agent.hpp"
#include "simulate.hpp"

namespace ipsec_retry::cli {
namespace {

using ipsec::policy_kind;
using ipsec::policy_operation;

}  // namespace

int run_simulate(const simulate_args& args, std::ostream& out, std::ostream& err) {
  auto policy = parse_policy_arg(args.policy, "simulate", err);
  if (!policy) return exit_bad_input;
  if (const auto story = run_filter_story(args, with_seed(*policy, args.seed), out, err)) {
    return *story;
  }
  const auto completes_after = parse_duration(*args.completes_after);
  if (!completes_after) {
    err << "ipsec-retry simulate: "
        << bad_duration("--completes-after", *args.completes_after, "730ms") << '\n';
    return exit_bad_input;
  }
  const auto latency = parse_duration(args.call_latency);
  if (!latency) {
    err << "ipsec-retry simulate: " << bad_duration("--call-latency", args.call_latency, "5ms")
        << '\n';
    return exit_bad_input;
  }
  constexpr std::array<std::pair<std::string_view, policy_operation>, 3> operations{
      {{"add", policy_operation::add},
       {"set", policy_operation::set},
       {"delete", policy_operation::remove}}};
  const auto named = operation_named(args.operation, operations, "", err);
  if (!named) return exit_bad_input;
  const policy_operation op = *named;
  policy = with_seed(*policy, args.seed);

  std::optional<retry_budget::settings> budget;
  if (args.budget) {
    auto parsed = retry_budget::parse(*args.budget);
    if (!parsed) {
      err << "ipsec-retry simulate: bad --budget '" << *args.budget
          << "': " << parsed.error().message() << '\n';
      return exit_bad_input;
    }
    budget = parsed.value();
  }

  virtual_time time;
  ipsec::simulated_agent agent(time.clock());
  const std::wstring name = L"simulated-qm-policy";
  agent.begin_deletion(policy_kind::quick_mode, name, time.now() + completes_after.value());
  if (!inject_faults(args.injections, agent, err)) return exit_bad_input;

  if (args.callers) {
    return run_callers(args, *policy, op, agent, time, name, completes_after.value(),
                       latency.value(), budget, out);
  }

  recording_agent recorder{agent, time, latency.value()};
  const std::vector<call_record>& timeline = recorder.timeline;
  const auto outcome = ipsec::run_operation(recorder, {policy_kind::quick_mode, op, name, {}},
                                            *policy, options().with_time(time));

  const bool succeeded = static_cast<bool>(outcome);
  const std::string outcome_text =
      succeeded ? "succeeded" : std::string(to_string(outcome.error().reason));
  const win32_error last_code = timeline.empty() ? win32_error::cancelled : timeline.back().code;
  const nanoseconds elapsed = succeeded ? time.elapsed() : outcome.error().elapsed;

  if (args.json) {
    const auto info = find_code(to_underlying(last_code));
    json_writer json(out);
    json.begin_object()
        .field("outcome", outcome_text)
        .field("calls", timeline.size())
        .field("elapsed_ns", elapsed.count())
        .field("last_code", to_underlying(last_code))
        .field("last_code_name", info ? std::optional<std::string_view>(info->name) : std::nullopt)
        .field("completion",
               succeeded ? std::optional<std::string_view>(ipsec::to_string(outcome.value().how))
                         : std::nullopt)
        .field("operation", args.operation)
        .field("policy", policy->format());
    write_timeline(json, timeline);
    json.end_object();
    out << '\n';
    return succeeded ? exit_ok : exit_retry_failed;
  }

  out << args.operation << " of a QM policy whose deletion completes at "
      << human_duration(completes_after.value()) << '\n';
  out << "policy: " << policy->format() << '\n';
  out << " call  starts at    agent returned\n";
  print_timeline(out, timeline, 0);
  if (succeeded) {
    out << "outcome: succeeded";
    if (outcome.value().how != ipsec::completion::done) {
      out << " (" << ipsec::to_string(outcome.value().how) << ")";
    }
  } else {
    out << "outcome: " << outcome_text;
  }
  out << " after " << timeline.size() << (timeline.size() == 1 ? " call" : " calls") << " in "
      << human_duration(elapsed) << '\n';
  return succeeded ? exit_ok : exit_retry_failed;
}

}  // namespace ipsec_retry::cli
