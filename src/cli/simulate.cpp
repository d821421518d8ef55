// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate`: a policy against the simulated Policy Agent, in virtual time.
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/coalesce.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <ostream>
#include <queue>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "inject.hpp"
#include "output.hpp"

namespace ipsec_retry::cli {
namespace {

using ipsec::policy_kind;
using ipsec::policy_operation;

struct call_record {
  nanoseconds at;
  win32_error code;
};

// Forwards to the simulated agent, recording each call's start time and code, and charging
// the call's latency to virtual time after the agent has seen its state at the start.
struct recording_agent {
  ipsec::simulated_agent& agent;
  virtual_time& time;
  nanoseconds latency;
  std::vector<call_record>& timeline;

  template <class Call>
  win32_error record(Call&& call) {
    const nanoseconds at = time.elapsed();
    const win32_error code = call();
    time.advance(latency);
    timeline.push_back({at, code});
    return code;
  }
  win32_error add_policy(policy_kind k, std::wstring_view n, ipsec::native_policy p) {
    return record([&] { return agent.add_policy(k, n, p); });
  }
  win32_error set_policy(policy_kind k, std::wstring_view n, ipsec::native_policy p) {
    return record([&] { return agent.set_policy(k, n, p); });
  }
  win32_error delete_policy(policy_kind k, std::wstring_view n) {
    return record([&] { return agent.delete_policy(k, n); });
  }
};

std::string code_label(win32_error code) {
  const auto info = find_code(to_underlying(code));
  const std::uint32_t v = to_underlying(code);
  std::string text = (v >> 31) != 0 ? hex(v, 8) : std::to_string(v);
  if (info) text += " " + std::string(info->name);
  return text;
}

// ---- `--callers N`: N concurrent callers as a discrete-event simulation -------------------
//
// No threads: an event queue ordered by (time, caller id, insertion). Each caller runs the
// typed operation's loop (ipsec::detail::run_coalesced with --coalesce, retry() without) step
// by step: the same retry_state, the same operation_judge (idempotency), the same
// pending_deletion_waits registry (its non-blocking poll() in place of the blocking wait) and
// the same budget_guard on one retry_budget shared by every caller. A call sees the agent's
// state when it starts and ends --call-latency later; everything a caller decides after a
// call (lead, release, hand over, sleep) happens at the call's end.

struct caller_report {
  bool succeeded = false;
  std::string outcome;
  ipsec::completion how = ipsec::completion::done;
  std::uint32_t calls = 0;
  nanoseconds elapsed{};
  win32_error last_code{};
};

class caller_simulation {
 public:
  caller_simulation(ipsec::simulated_agent& agent, virtual_time& time, policy_operation op,
                    std::wstring_view name, const retry_policy& effective, nanoseconds latency,
                    std::uint32_t callers, std::uint64_t base_seed, bool coalesce,
                    retry_budget* budget)
      : agent_(agent),
        time_(time),
        op_(op),
        name_(name),
        effective_(effective),
        latency_(latency),
        coalesce_(coalesce),
        guard_{budget},
        key_{L"", policy_kind::quick_mode, name} {
    callers_.reserve(callers);
    for (std::uint32_t i = 0; i < callers; ++i) {
      callers_.push_back(
          caller{retry_state(effective, time_point{}, std::nullopt, base_seed + i),
                 ipsec::detail::operation_judge(op, policy_kind::quick_mode, {}, effective),
                 held_admission<budget_guard>(guard_)});
      push(nanoseconds::zero(), i, event_kind::act);
    }
  }

  std::vector<caller_report> run() {
    while (!queue_.empty()) {
      const event e = queue_.top();
      queue_.pop();
      caller& c = callers_[e.id];
      if (c.done) continue;
      switch (e.what) {
        case event_kind::act:
          act(c, e.id, e.at);
          break;
        case event_kind::call:
          begin_call(c, e.id, e.at);
          break;
        case event_kind::call_end:
          end_call(c, e.id, e.at);
          break;
        case event_kind::timeout:
          if (c.waiting && c.wait_number == e.wait_number) timed_out(c, e.id, e.at);
          break;
      }
      wake_followers(e.at);
    }
    std::vector<caller_report> reports;
    reports.reserve(callers_.size());
    for (const caller& c : callers_) reports.push_back(c.report);
    return reports;
  }

 private:
  enum class event_kind : std::uint8_t { act, call, call_end, timeout };
  struct event {
    nanoseconds at;
    std::uint32_t id;
    std::uint64_t order;
    event_kind what;
    std::uint64_t wait_number;
    bool operator>(const event& o) const {
      return std::tie(at, id, order) > std::tie(o.at, o.id, o.order);
    }
  };
  struct caller {
    retry_state state;
    ipsec::detail::operation_judge judge;
    held_admission<budget_guard> pass;  // the budget's admission of the next call
    ipsec::pending_deletion_waits::ticket ticket{};
    bool waiting = false;
    std::uint64_t wait_number = 0;
    bool done = false;
    win32_error in_flight{};
    win32_error last{};
    caller_report report{};
  };

  void push(nanoseconds at, std::uint32_t id, event_kind what, std::uint64_t wait_number = 0) {
    queue_.push(event{at, id, order_++, what, wait_number});
  }
  const ipsec::policy_codes& codes(const caller& c) const { return c.judge.codes(); }

  // Before a call: a caller that does not lead joins a wait in progress instead of calling.
  void act(caller& c, std::uint32_t id, nanoseconds now) {
    if (coalesce_) {
      if (!c.ticket) c.ticket = waits_.join(key_);
      if (c.ticket.follows()) {
        follow(c, id);
        return;
      }
    }
    begin_call(c, id, now);
  }

  void follow(caller& c, std::uint32_t id) {
    c.pass.release();  // a follower does not call: the admission is given back
    c.judge.saw_pending();
    c.last = codes(c).pending_deletion;
    c.waiting = true;
    ++c.wait_number;
    waiting_.emplace_back(id, c.wait_number);
    if (const auto deadline = c.state.deadline()) {
      push(std::max(deadline->time_since_epoch(), nanoseconds::zero()), id, event_kind::timeout,
           c.wait_number);
    }
  }

  void timed_out(caller& c, std::uint32_t id, nanoseconds now) {
    c.waiting = false;
    c.ticket.reset();  // leaves the wait (hands it over, had it just been promoted)
    changed_ = true;
    if (effective_.settings().on_deadline == at_deadline::give_up) {
      finish(c, false, to_string(stop_reason::deadline_exceeded), now);
      return;
    }
    begin_call(c, id, now);  // the final call at the deadline
  }

  void begin_call(caller& c, std::uint32_t id, nanoseconds now) {
    if (!c.pass.held()) {
      if (auto refused = c.pass.admit(c.state.calls() + 1)) {
        finish(c, false, to_string(refused->reason), now);
        return;
      }
    }
    time_.set(time_point{now});
    switch (op_) {
      case policy_operation::add:
        c.in_flight = agent_.add_policy(policy_kind::quick_mode, name_, {});
        break;
      case policy_operation::set:
        c.in_flight = agent_.set_policy(policy_kind::quick_mode, name_, {});
        break;
      case policy_operation::remove:
        c.in_flight = agent_.delete_policy(policy_kind::quick_mode, name_);
        break;
    }
    push(now + latency_, id, event_kind::call_end);
  }

  void end_call(caller& c, std::uint32_t id, nanoseconds now) {
    const win32_error code = c.in_flight;
    const auto r = c.judge(code, c.state.calls() + 1);
    const verdict v = r ? verdict::success : effective_.classify()(code);
    c.pass.record(v, to_underlying(code));
    c.last = code;
    const bool pending = code == codes(c).pending_deletion;
    if (!pending && c.ticket.leads()) {
      waits_.release(c.ticket);
      changed_ = true;
    }
    const next_step step = c.state.on_call_end(v, time_point{now});
    if (step.what == next_step::action::succeed) {
      c.report.how = r.value().how;
      finish(c, true, "succeeded", now);
      return;
    }
    if (step.what == next_step::action::stop) {
      finish(c, false, to_string(step.reason), now);
      return;
    }
    if (coalesce_ && pending && !c.ticket.leads()) {
      c.ticket = waits_.lead(key_);
      if (c.ticket.follows()) {
        follow(c, id);
        return;
      }
    }
    if (auto refused = c.pass.admit(c.state.calls() + 1)) {
      finish(c, false, to_string(refused->reason), now);
      return;
    }
    push(now + step.delay, id, event_kind::act);
  }

  // After an event that may have woken followers (a release, or a leader leaving): those
  // released or promoted make their call now. `waiting_` lists the followers in the order they
  // joined, which is the registry's order: a release wakes them all, a hand-over wakes the
  // oldest, so the scan stops at the first follower still waiting (O(woken), not O(N)).
  void wake_followers(nanoseconds now) {
    if (!coalesce_ || !changed_) return;
    changed_ = false;
    while (!waiting_.empty()) {
      const auto [id, number] = waiting_.front();
      caller& c = callers_[id];
      if (!c.waiting || c.wait_number != number) {  // timed out or done since
        waiting_.pop_front();
        continue;
      }
      if (!waits_.poll(c.ticket)) break;
      waiting_.pop_front();
      c.waiting = false;
      push(now, id, event_kind::call);
    }
  }

  void finish(caller& c, bool succeeded, std::string_view outcome, nanoseconds now) {
    c.done = true;
    c.waiting = false;
    c.pass.release();
    if (c.ticket.leads()) changed_ = true;
    c.ticket.reset();  // a leader hands the wait over; a follower leaves it
    c.report.succeeded = succeeded;
    c.report.outcome = std::string(outcome);
    c.report.calls = c.state.calls();
    c.report.elapsed = now;
    c.report.last_code = c.last;
  }

  ipsec::simulated_agent& agent_;
  virtual_time& time_;
  policy_operation op_;
  std::wstring_view name_;
  const retry_policy& effective_;
  nanoseconds latency_;
  bool coalesce_;
  budget_guard guard_;  // a null budget refuses nothing and records nothing
  ipsec::wait_key key_;
  ipsec::pending_deletion_waits waits_;
  std::vector<caller> callers_;
  std::priority_queue<event, std::vector<event>, std::greater<>> queue_;
  std::uint64_t order_ = 0;
  std::deque<std::pair<std::uint32_t, std::uint64_t>> waiting_;  // (caller, wait number)
  bool changed_ = false;  // a release or hand-over since the last wake_followers
};

// What the shared budget charges (budget_guard's rule, guards.hpp: signals_overload).
constexpr std::string_view budget_charges = "overload codes only";
constexpr std::string_view budget_rule =
    "a failure costs 1 token only if its code says the agent is overloaded (RPC transport "
    "failures, ERROR_BUSY, ERROR_TIMEOUT, FWP_E_TIMEOUT); PENDING_DELETION costs nothing; a "
    "success refills token_ratio";

// 10, 0.1: the shortest text that reads back as the same double.
std::string format_number(double value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc{} ? std::string(buffer, end) : std::string("?");
}

nanoseconds nth_elapsed(std::vector<caller_report> reports, std::size_t (*index)(std::size_t)) {
  std::sort(reports.begin(), reports.end(),
            [](const caller_report& a, const caller_report& b) { return a.elapsed < b.elapsed; });
  return reports[index(reports.size())].elapsed;
}
std::size_t last_index(std::size_t n) {
  return n - 1;
}
std::size_t median_index(std::size_t n) {
  return (n - 1) / 2;
}  // the lower median

int run_callers(const simulate_args& args, const retry_policy& policy, policy_operation op,
                ipsec::simulated_agent& agent, virtual_time& time, std::wstring_view name,
                nanoseconds completes_after, nanoseconds latency,
                const std::optional<retry_budget::settings>& budget_settings, std::ostream& out) {
  const retry_policy effective =
      ipsec::detail::with_idempotency(policy, op != policy_operation::add);
  std::optional<retry_budget> budget;
  if (budget_settings) budget.emplace(*budget_settings);
  // Caller i's jitter seed is base + i: --seed, else the policy's, else a fresh one.
  const std::uint64_t base_seed =
      args.seed ? *args.seed : (policy.settings().seed ? *policy.settings().seed : fresh_seed());
  caller_simulation sim(agent, time, op, name, effective, latency, *args.callers, base_seed,
                        args.coalesce, budget ? &*budget : nullptr);
  const std::vector<caller_report> reports = sim.run();

  std::size_t succeeded = 0;
  const caller_report* first_failure = nullptr;
  for (const caller_report& r : reports) {
    if (r.succeeded) {
      ++succeeded;
    } else if (first_failure == nullptr) {
      first_failure = &r;
    }
  }
  const bool all_succeeded = first_failure == nullptr;
  const std::string outcome = all_succeeded ? "succeeded" : first_failure->outcome;
  const std::uint64_t agent_calls = agent.calls();
  const nanoseconds max_elapsed = nth_elapsed(reports, last_index);
  const nanoseconds median_elapsed = nth_elapsed(reports, median_index);
  const std::string budget_text =
      budget_settings ? "max_tokens=" + format_number(budget_settings->max_tokens) +
                            ", token_ratio=" + format_number(budget_settings->token_ratio)
                      : std::string();

  if (args.json) {
    out << "{\"outcome\":" << json_string(outcome) << ",\"agent_calls\":" << agent_calls
        << ",\"succeeded\":" << succeeded << ",\"max_elapsed_ns\":" << max_elapsed.count()
        << ",\"median_elapsed_ns\":" << median_elapsed.count()
        << ",\"operation\":" << json_string(args.operation)
        << ",\"policy\":" << json_string(policy.format())
        << ",\"coalesce\":" << (args.coalesce ? "true" : "false")
        << ",\"budget\":" << (budget_settings ? json_string(budget_text) : std::string("null"))
        << ",\"budget_charges\":"
        << (budget_settings ? json_string(budget_charges) : std::string("null"))
        << ",\"callers\":[";
    for (std::size_t i = 0; i < reports.size(); ++i) {
      const caller_report& r = reports[i];
      out << (i ? "," : "") << "{\"outcome\":" << json_string(r.outcome) << ",\"calls\":" << r.calls
          << ",\"elapsed_ns\":" << r.elapsed.count() << ",\"completion\":"
          << (r.succeeded ? json_string(ipsec::to_string(r.how)) : std::string("null"))
          << ",\"last_code\":" << to_underlying(r.last_code) << '}';
    }
    out << "]}\n";
    return all_succeeded ? exit_ok : exit_retry_failed;
  }

  out << args.operation << " of a QM policy whose deletion completes at "
      << human_duration(completes_after) << ", " << reports.size()
      << (reports.size() == 1 ? " caller" : " callers") << " starting at 0"
      << (args.coalesce ? ", coalesced waits" : "")
      << (budget_settings ? ", shared budget " + budget_text : std::string()) << '\n';
  out << "policy: " << policy.format() << '\n';
  if (budget_settings) out << "budget rule: " << budget_rule << '\n';
  out << " caller  outcome                         calls  elapsed     last code\n";
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const caller_report& r = reports[i];
    const std::string number = std::to_string(i + 1);
    std::string outcome_text = r.outcome;
    if (r.succeeded && r.how != ipsec::completion::done) {
      outcome_text += " (" + std::string(ipsec::to_string(r.how)) + ")";
    }
    const std::string calls = std::to_string(r.calls);
    out << std::string(number.size() < 7 ? 7 - number.size() : 0, ' ') << number << "  "
        << pad(outcome_text, 32) << std::string(calls.size() < 5 ? 5 - calls.size() : 0, ' ')
        << calls << "  " << pad(human_duration(r.elapsed), 12) << code_label(r.last_code) << '\n';
  }
  out << "agent calls: " << agent_calls << "; succeeded: " << succeeded << " of " << reports.size()
      << "; elapsed max " << human_duration(max_elapsed) << ", median "
      << human_duration(median_elapsed) << '\n';
  return all_succeeded ? exit_ok : exit_retry_failed;
}

}  // namespace

int run_simulate(const simulate_args& args, std::ostream& out, std::ostream& err) {
  auto policy = parse_policy_arg(args.policy, "simulate", err);
  if (!policy) return exit_bad_input;
  const auto completes_after = parse_duration(args.completes_after);
  if (!completes_after) {
    err << "ipsec-retry simulate: bad --completes-after '" << args.completes_after
        << "': expected a duration: a number and a unit (ns, us, ms, s, min, h), e.g. 730ms\n";
    return exit_bad_input;
  }
  const auto latency = parse_duration(args.call_latency);
  if (!latency) {
    err << "ipsec-retry simulate: bad --call-latency '" << args.call_latency
        << "': expected a duration: a number and a unit (ns, us, ms, s, min, h), e.g. 5ms\n";
    return exit_bad_input;
  }
  policy_operation op{};
  if (args.operation == "add") {
    op = policy_operation::add;
  } else if (args.operation == "set") {
    op = policy_operation::set;
  } else if (args.operation == "delete") {
    op = policy_operation::remove;
  } else {
    err << "ipsec-retry simulate: bad --operation '" << args.operation
        << "': expected add, set or delete\n";
    return exit_bad_input;
  }
  if (args.seed) {
    retry_settings settings = policy->settings();
    settings.seed = *args.seed;
    policy = retry_policy::make(settings).value();
  }

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

  std::vector<call_record> timeline;
  recording_agent recorder{agent, time, latency.value(), timeline};
  const auto outcome = ipsec::run_policy_operation(recorder, op, policy_kind::quick_mode, name, {},
                                                   *policy, options().with_time(time));

  const bool succeeded = static_cast<bool>(outcome);
  const std::string outcome_text =
      succeeded ? "succeeded" : std::string(to_string(outcome.error().reason));
  const win32_error last_code = timeline.empty() ? win32_error::cancelled : timeline.back().code;
  const nanoseconds elapsed = succeeded ? time.elapsed() : outcome.error().elapsed;

  if (args.json) {
    out << "{\"outcome\":" << json_string(outcome_text) << ",\"calls\":" << timeline.size()
        << ",\"elapsed_ns\":" << elapsed.count() << ",\"last_code\":" << to_underlying(last_code)
        << ",\"last_code_name\":";
    const auto info = find_code(to_underlying(last_code));
    out << (info ? json_string(info->name) : std::string("null"));
    out << ",\"completion\":"
        << (succeeded ? json_string(ipsec::to_string(outcome.value().how)) : std::string("null"))
        << ",\"operation\":" << json_string(args.operation)
        << ",\"policy\":" << json_string(policy->format()) << ",\"timeline\":[";
    for (std::size_t i = 0; i < timeline.size(); ++i) {
      out << (i ? "," : "") << "{\"at_ns\":" << timeline[i].at.count()
          << ",\"code\":" << to_underlying(timeline[i].code) << '}';
    }
    out << "]}\n";
    return succeeded ? exit_ok : exit_retry_failed;
  }

  out << args.operation << " of a QM policy whose deletion completes at "
      << human_duration(completes_after.value()) << '\n';
  out << "policy: " << policy->format() << '\n';
  out << " call  starts at    agent returned\n";
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    const std::string number = std::to_string(i + 1);
    out << std::string(number.size() < 5 ? 5 - number.size() : 0, ' ') << number << "  "
        << pad(human_duration(timeline[i].at), 13) << code_label(timeline[i].code) << '\n';
  }
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
