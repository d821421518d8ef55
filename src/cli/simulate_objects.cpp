// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate --object KIND --held-for D` and `simulate --replace [--held-for D]`:
// the filter stories of docs/simulator.md, in virtual time. This caller is the simulated
// agent's default client; "another client" is a second connection that holds a handle to the
// filter and closes it at D.
#include <ipsec_retry/ipsec/composites.hpp>
#include <ipsec_retry/ipsec/operations.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "inject.hpp"
#include "json.hpp"
#include "output.hpp"
#include "recording_agent.hpp"
#include "simulate.hpp"

namespace ipsec_retry::cli {
namespace {

using ipsec::agent_operation;
using ipsec::filter_kind;
using ipsec::native_filter;
using ipsec::policy_kind;

constexpr std::wstring_view qm_name = L"corp-qm";
constexpr std::wstring_view mm_name = L"corp-mm";
constexpr ipsec::guid filter_id{0x1f17e400, 0x0001, 0x4000, {1, 2, 3, 4, 5, 6, 7, 8}};
constexpr ipsec::guid auth_id{0xa0740000, 0x0001, 0x4000, {1, 2, 3, 4, 5, 6, 7, 8}};

std::optional<filter_kind> filter_kind_of(std::string_view text) {
  if (text == "transport-filter") return filter_kind::transport;
  if (text == "tunnel-filter") return filter_kind::tunnel;
  if (text == "mm-filter") return filter_kind::main_mode;
  return std::nullopt;
}

// The filter of the stories, and the objects it uses, installed in `agent` (setup: no call).
native_filter install_story(ipsec::simulated_agent& agent, filter_kind kind) {
  native_filter f;
  f.kind = kind;
  f.id = filter_id;
  f.flags = ipsec::persist_spd_object;
  if (kind == filter_kind::main_mode) {
    agent.install(policy_kind::main_mode, mm_name);
    agent.install_mm_auth_methods(auth_id);
    f.policy = mm_name;
    f.auth_methods = auth_id;
  } else {
    agent.install(policy_kind::quick_mode, qm_name);
    f.policy = qm_name;
  }
  return f;
}

std::string held_words(std::optional<nanoseconds> held_for) {
  return held_for ? "another client holds it open until " + human_duration(*held_for)
                  : "no other client holds it open";
}

}  // namespace

std::string bad_duration(std::string_view option, std::string_view text, std::string_view example) {
  return "bad " + std::string(option) + " '" + std::string(text) +
         "': expected a duration: a number and a unit (ns, us, ms, s, min, h), e.g. " +
         std::string(example);
}

void write_timeline(json_writer& json, std::span<const call_record> timeline) {
  json.key("timeline").begin_array();
  for (const call_record& r : timeline) {
    json.begin_object().field("at_ns", r.at.count()).field("code", to_underlying(r.code));
    json.end_object();
  }
  json.end_array();
}

void print_timeline(std::ostream& out, std::span<const call_record> timeline, std::size_t first) {
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    const std::string number = std::to_string(first + i + 1);
    out << std::string(number.size() < 5 ? 5 - number.size() : 0, ' ') << number << "  "
        << pad(human_duration(timeline[i].at), 13) << code_label(to_underlying(timeline[i].code))
        << '\n';
  }
}

std::optional<int> run_filter_story(const simulate_args& args, const retry_policy& policy,
                                    std::ostream& out, std::ostream& err) {
  const auto bad = [&](const std::string& problem) -> std::optional<int> {
    err << "ipsec-retry simulate: " << problem << '\n';
    return exit_bad_input;
  };
  const int scenarios =
      (args.completes_after ? 1 : 0) + (args.object ? 1 : 0) + (args.replace ? 1 : 0);
  if (scenarios == 0) {
    return bad(
        "no scenario: give --completes-after DURATION (a QM policy pending deletion), --object "
        "KIND --held-for DURATION (a filter another client holds open) or --replace");
  }
  if (scenarios > 1) {
    return bad("--completes-after, --object and --replace are different scenarios: give one");
  }
  if (args.completes_after) {
    if (args.held_for) return bad("--held-for needs --object or --replace");
    return std::nullopt;
  }
  const std::string_view story = args.object ? "--object" : "--replace";
  if (args.callers || args.coalesce || args.budget) {
    return bad("--callers, --coalesce and --budget go with --completes-after, not with " +
               std::string(story));
  }
  if (args.replace && args.operation_given) {
    return bad("--operation does not go with --replace: a replace runs its own four steps");
  }
  const auto latency = parse_duration(args.call_latency);
  if (!latency) {
    return bad(bad_duration("--call-latency", args.call_latency, "5ms"));
  }
  std::optional<nanoseconds> held_for;
  if (args.held_for) {
    const auto parsed = parse_duration(*args.held_for);
    if (parsed) held_for = parsed.value();
    if (!parsed) {
      return bad(bad_duration("--held-for", *args.held_for, "730ms"));
    }
  }
  if (args.object) {
    if (!held_for) return bad("--object needs --held-for DURATION");
    return run_simulate_object(args, policy, *held_for, latency.value(), out, err);
  }
  return run_simulate_replace(args, policy, held_for, latency.value(), out, err);
}

int run_simulate_object(const simulate_args& args, const retry_policy& policy, nanoseconds held_for,
                        nanoseconds latency, std::ostream& out, std::ostream& err) {
  const auto kind = filter_kind_of(*args.object);
  if (!kind) {
    err << "ipsec-retry simulate: bad --object '" << *args.object
        << "': expected transport-filter, tunnel-filter or mm-filter\n";
    return exit_bad_input;
  }
  constexpr std::array<std::pair<std::string_view, agent_operation>, 2> operations{
      {{"add", agent_operation::add}, {"open", agent_operation::open}}};
  const auto named = operation_named(args.operation, operations, " with --object", err);
  if (!named) return exit_bad_input;
  const agent_operation op = *named;

  virtual_time time;
  ipsec::simulated_agent agent(time.clock());
  const native_filter filter = install_story(agent, *kind);
  // At 0 this client deleted the filter while another client held a handle to it, which that
  // client closes at --held-for: pending deletion until then.
  ipsec::simulated_agent::client& other = agent.connect();
  const ipsec::agent_handle mine = agent.install_filter(agent.default_client(), filter);
  const ipsec::agent_handle theirs = agent.install_filter(other, filter);
  agent.hold_until(other, theirs, time.now() + held_for);
  // The deletion is setup: --inject N counts from the first call of the retried operation.
  (void)agent.delete_filter(*kind, mine);
  if (!inject_faults(args.injections, agent, err, agent.calls())) return exit_bad_input;

  recording_agent recorder{agent, time, latency};
  // Re-adding a filter this caller has just deleted: EXISTS is transient (a replace's last
  // step); an open waits out the pending deletion.
  const ipsec::operation_options options{.readd_after_delete = op == agent_operation::add};
  const auto outcome =
      ipsec::run_operation(recorder, ipsec::operation_target::for_filter(op, filter), policy,
                           ipsec_retry::options().with_time(time), options);
  if (outcome && outcome.value().handle) (void)agent.close_filter(*kind, outcome.value().handle);

  const std::vector<call_record>& timeline = recorder.timeline;
  const bool succeeded = static_cast<bool>(outcome);
  const std::string outcome_text =
      succeeded ? "succeeded" : std::string(to_string(outcome.error().reason));
  const win32_error last_code = timeline.empty() ? win32_error::cancelled : timeline.back().code;
  const nanoseconds elapsed = succeeded ? time.elapsed() : outcome.error().elapsed;
  if (args.json) {
    json_writer json(out);
    json.begin_object()
        .field("outcome", outcome_text)
        .field("calls", timeline.size())
        .field("elapsed_ns", elapsed.count())
        .field("last_code", to_underlying(last_code));
    const auto info = find_code(to_underlying(last_code));
    json.field("last_code_name", info ? std::optional<std::string_view>(info->name) : std::nullopt);
    json.field("object", *args.object).field("operation", args.operation);
    json.field("held_for_ns", held_for.count()).field("policy", policy.format());
    write_timeline(json, timeline);
    json.end_object();
    out << '\n';
    return succeeded ? exit_ok : exit_retry_failed;
  }
  // "an MM filter", "a transport filter"
  const std::string_view article = *kind == filter_kind::main_mode ? "an " : "a ";
  out << args.operation << " of " << article << to_string(*kind) << " filter deleted at 0 while "
      << held_words(held_for) << '\n';
  out << "policy: " << policy.format() << '\n';
  out << " call  starts at    agent returned\n";
  print_timeline(out, timeline, 0);
  out << "outcome: " << outcome_text << " after " << timeline.size()
      << (timeline.size() == 1 ? " call" : " calls") << " in " << human_duration(elapsed) << '\n';
  return succeeded ? exit_ok : exit_retry_failed;
}

int run_simulate_replace(const simulate_args& args, const retry_policy& policy,
                         std::optional<nanoseconds> held_for, nanoseconds latency,
                         std::ostream& out, std::ostream& err) {
  virtual_time time;
  ipsec::simulated_agent agent(time.clock());
  const native_filter filter = install_story(agent, filter_kind::transport);
  const ipsec::agent_handle mine = agent.install_filter(agent.default_client(), filter);
  if (held_for) {
    ipsec::simulated_agent::client& other = agent.connect();
    const ipsec::agent_handle theirs = agent.install_filter(other, filter);
    agent.hold_until(other, theirs, time.now() + *held_for);
  }
  if (!inject_faults(args.injections, agent, err)) return exit_bad_input;

  recording_agent recorder{agent, time, latency};
  std::array<ipsec::replaced_filter, 1> filters{
      {{ipsec::filter_handle(recorder, filter_kind::transport, mine), filter}}};
  // Every step at --policy (the default sites' policies are what `--policy ""` is not: the
  // library's own test of the story uses those).
  const ipsec::step_policies steps{&policy, &policy, &policy, &policy, &policy};
  const ipsec::composite_report report =
      ipsec::replace_policy(recorder, policy_kind::quick_mode, qm_name, qm_name, {},
                            std::span(filters), steps, ipsec_retry::options().with_time(time));

  const std::vector<call_record>& timeline = recorder.timeline;
  const std::string outcome_text =
      report ? "succeeded" : std::string(to_string(*report.steps[*report.failed].stopped));
  if (args.json) {
    json_writer json(out);
    json.begin_object()
        .field("outcome", outcome_text)
        .field("agent_calls", timeline.size())
        .field("elapsed_ns", report.elapsed.count())
        .field("held_for_ns",
               held_for ? std::optional<std::int64_t>(held_for->count()) : std::nullopt)
        .field("policy", policy.format());
    json.key("steps").begin_array();
    std::size_t first = 0;
    for (const ipsec::step_report& s : report.step_list()) {
      json.begin_object().field("name", s.name());
      json.field("outcome", !s.ran      ? std::string("not_run")
                            : s.stopped ? std::string(to_string(*s.stopped))
                                        : std::string("succeeded"));
      json.field("calls", s.calls);
      write_timeline(json, std::span(timeline).subspan(first, s.calls));
      json.end_object();
      first += s.calls;
    }
    json.end_array();
    // What a failure left behind, in words; null when the replace succeeded.
    const std::string left = report.left_behind();
    json.field("left", report ? std::optional<std::string>() : std::optional<std::string>(left));
    json.end_object();
    out << '\n';
    return report ? exit_ok : exit_retry_failed;
  }
  out << "replace of QM policy corp-qm, used by a transport filter; " << held_words(held_for)
      << '\n';
  out << "policy: " << policy.format() << '\n';
  std::size_t first = 0;
  for (const ipsec::step_report& s : report.step_list()) {
    out << "step " << s.name() << ": "
        << (!s.ran      ? std::string("not run")
            : s.stopped ? std::string(to_string(*s.stopped))
                        : std::string("succeeded"))
        << '\n';
    if (s.calls != 0) {
      out << " call  starts at    agent returned\n";
      print_timeline(out, std::span(timeline).subspan(first, s.calls), first);
    }
    first += s.calls;
  }
  out << "outcome: " << outcome_text << " after " << timeline.size()
      << (timeline.size() == 1 ? " agent call" : " agent calls") << " in "
      << human_duration(report.elapsed) << '\n';
  if (!report) out << "left: " << report.left_behind() << '\n';
  return report ? exit_ok : exit_retry_failed;
}

}  // namespace ipsec_retry::cli
