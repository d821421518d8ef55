// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate --callers N`: N concurrent callers as a discrete-event simulation.
//
// No threads: an event queue ordered by (time, caller id, insertion). Each caller is a typed
// operation's engine (ipsec/engine.hpp), the same one the blocking wrappers run: the same
// rules, the same pending_deletion_waits registry and the same budget_guard on one retry_budget
// shared by every caller. This file only carries out what the engines ask for: a call sees the
// agent's state when it starts and ends --call-latency later; a sleep or a follower's wait slice
// is an event at its end; a follower the leader releases or promotes is woken at once.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "../text.hpp"
#include "json.hpp"
#include "output.hpp"
#include "simulate.hpp"

namespace ipsec_retry::cli {
namespace {

using ipsec::policy_kind;
using ipsec::policy_operation;
using engine_type = ipsec::operation_engine<budget_guard>;

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
                    std::wstring_view name, const retry_policy& policy, nanoseconds latency,
                    std::uint32_t callers, std::uint64_t base_seed, bool coalesce,
                    retry_budget* budget)
      : agent_(agent), time_(time), latency_(latency), coalesce_(coalesce), guard_{budget} {
    const ipsec::operation_target target{policy_kind::quick_mode, op, name, {}};
    ipsec::operation_options options;
    if (coalesce) options.waits = &waits_;
    callers_.reserve(callers);
    for (std::uint32_t i = 0; i < callers; ++i) {
      callers_.push_back(caller{
          engine_type(target, policy, guard_, time_point{}, std::nullopt, options, base_seed + i)});
      push(nanoseconds::zero(), i, event_kind::start);
    }
  }

  std::vector<caller_report> run() {
    while (!queue_.empty()) {
      const event e = queue_.top();
      queue_.pop();
      caller& c = callers_[e.id];
      if (c.done) continue;
      const time_point now{e.at};
      switch (e.what) {
        case event_kind::start:
          carry_out(c, e.id, c.engine.start(now), e.at);
          break;
        case event_kind::call_end:
          carry_out(c, e.id, c.engine.call_ended(c.in_flight, now), e.at);
          break;
        case event_kind::slept:
          carry_out(c, e.id, c.engine.slept(now), e.at);
          break;
        case event_kind::waited:
          if (!c.waiting || c.wait_number != e.wait_number) break;  // woken earlier
          c.waiting = false;
          carry_out(c, e.id, c.engine.waited(now), e.at);
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
  enum class event_kind : std::uint8_t { start, call_end, slept, waited };
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
    engine_type engine;
    bool waiting = false;           // in a wait slice
    std::uint64_t wait_number = 0;  // its current (or last) wait slice
    bool following = false;         // in a wait, from joining it until it calls or stops
    std::uint64_t follow_number = 0;
    bool done = false;
    win32_error in_flight{};
    caller_report report{};
  };

  void push(nanoseconds at, std::uint32_t id, event_kind what, std::uint64_t wait_number = 0) {
    queue_.push(event{at, id, order_++, what, wait_number});
  }

  // What the engine asked for, at `now`.
  void carry_out(caller& c, std::uint32_t id, const retry_step& step, nanoseconds now) {
    if (step.what != retry_step::action::wait_for_leader) c.following = false;
    switch (step.what) {
      case retry_step::action::call:
        time_.set(time_point{now});
        c.in_flight = ipsec::call_agent(agent_, c.engine.target());
        push(now + latency_, id, event_kind::call_end);
        return;
      case retry_step::action::sleep:
        push(now + step.delay, id, event_kind::slept);
        return;
      case retry_step::action::wait_for_leader:
        c.waiting = true;
        ++c.wait_number;
        if (!c.following) {  // it has just joined the wait: the registry listed it last
          c.following = true;
          ++c.follow_number;
          following_.emplace_back(id, c.follow_number);
        }
        push(now + step.delay, id, event_kind::waited, c.wait_number);
        return;
      case retry_step::action::done:
        c.report.how = c.engine.value().how;
        finish(c, true, "succeeded", now);
        return;
      case retry_step::action::stop:
        finish(c, false, to_string(step.reason), now);
        return;
    }
  }

  // Followers the leader released or promoted (their wake token fired) carry on now.
  // `following_` lists them in the order they joined the wait (one entry per joining, not per
  // wait slice), which is the registry's order (coalesce.hpp): a release wakes them all, a
  // hand-over wakes the oldest, so the woken are always at the front and the scan stops at the
  // first follower not woken (O(woken), not O(N)).
  void wake_followers(nanoseconds now) {
    if (!coalesce_) return;
    while (!following_.empty()) {
      const auto [id, number] = following_.front();
      caller& c = callers_[id];
      if (!c.following || c.follow_number != number) {  // it left that wait (deadline, done)
        following_.pop_front();
        continue;
      }
      if (!c.engine.woken()) break;
      following_.pop_front();
      push(now, id, event_kind::waited, c.wait_number);  // ends its current slice now
    }
  }

  void finish(caller& c, bool succeeded, std::string_view outcome, nanoseconds now) {
    c.done = true;
    c.waiting = false;
    c.report.succeeded = succeeded;
    c.report.outcome = std::string(outcome);
    c.report.calls = c.engine.calls();
    c.report.elapsed = now;
    c.report.last_code = win32_error{static_cast<std::uint32_t>(c.engine.error().value())};
  }

  ipsec::simulated_agent& agent_;
  virtual_time& time_;
  nanoseconds latency_;
  bool coalesce_;
  budget_guard guard_;  // a null budget refuses nothing and records nothing
  ipsec::pending_deletion_waits waits_;
  std::vector<caller> callers_;
  std::priority_queue<event, std::vector<event>, std::greater<>> queue_;
  std::uint64_t order_ = 0;
  std::deque<std::pair<std::uint32_t, std::uint64_t>> following_;  // (caller, follow number)
};

// What the shared budget charges (budget_guard's rule, guards.hpp: signals_overload).
constexpr std::string_view budget_charges = "overload codes only";
constexpr std::string_view budget_rule =
    "a failure costs 1 token only if its code says the agent is overloaded (RPC transport "
    "failures, ERROR_BUSY, ERROR_TIMEOUT, FWP_E_TIMEOUT); PENDING_DELETION costs nothing; a "
    "success refills token_ratio";

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

}  // namespace

int run_callers(const simulate_args& args, const retry_policy& policy, policy_operation op,
                ipsec::simulated_agent& agent, virtual_time& time, std::wstring_view name,
                nanoseconds completes_after, nanoseconds latency,
                const std::optional<retry_budget::settings>& budget_settings, std::ostream& out) {
  std::optional<retry_budget> budget;
  if (budget_settings) budget.emplace(*budget_settings);
  // Caller i's jitter seed is base + i: --seed, else the policy's, else a fresh one.
  const std::uint64_t base_seed =
      args.seed ? *args.seed : (policy.settings().seed ? *policy.settings().seed : fresh_seed());
  caller_simulation sim(agent, time, op, name, policy, latency, *args.callers, base_seed,
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
      budget_settings
          ? "max_tokens=" + ipsec_retry::detail::shortest_decimal(budget_settings->max_tokens) +
                ", token_ratio=" +
                ipsec_retry::detail::shortest_decimal(budget_settings->token_ratio)
          : std::string();

  if (args.json) {
    using text_or_null = std::optional<std::string_view>;
    json_writer json(out);
    json.begin_object()
        .field("outcome", outcome)
        .field("agent_calls", agent_calls)
        .field("succeeded", succeeded)
        .field("max_elapsed_ns", max_elapsed.count())
        .field("median_elapsed_ns", median_elapsed.count())
        .field("operation", args.operation)
        .field("policy", policy.format())
        .field("coalesce", args.coalesce)
        .field("budget", budget_settings ? text_or_null(budget_text) : std::nullopt)
        .field("budget_charges", budget_settings ? text_or_null(budget_charges) : std::nullopt)
        .key("callers")
        .begin_array();
    for (const caller_report& r : reports) {
      json.begin_object()
          .field("outcome", r.outcome)
          .field("calls", r.calls)
          .field("elapsed_ns", r.elapsed.count())
          .field("completion", r.succeeded ? text_or_null(ipsec::to_string(r.how)) : std::nullopt)
          .field("last_code", to_underlying(r.last_code))
          .end_object();
    }
    json.end_array().end_object();
    out << '\n';
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
        << calls << "  " << pad(human_duration(r.elapsed), 12)
        << code_label(to_underlying(r.last_code)) << '\n';
  }
  out << "agent calls: " << agent_calls << "; succeeded: " << succeeded << " of " << reports.size()
      << "; elapsed max " << human_duration(max_elapsed) << ", median "
      << human_duration(median_elapsed) << '\n';
  return all_succeeded ? exit_ok : exit_retry_failed;
}

}  // namespace ipsec_retry::cli
