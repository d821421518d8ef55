// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry schedule --policy POLICY [--code CODE]`: the calls a policy makes when every call
// returns CODE and takes no time, printed as they happen (docs/cli.md, "schedule").
#include <ipsec_retry/retry.hpp>

#include <optional>
#include <ostream>
#include <stop_token>
#include <string>

#include "commands.hpp"
#include "output.hpp"

namespace ipsec_retry::cli {
namespace {

// What one run of the loop did. Nothing per call is kept: memory does not grow with the number
// of calls, however large --max-calls is.
struct loop_summary {
  std::uint64_t calls = 0;
  nanoseconds last_start{};
  bool truncated = false;           // --max-calls reached
  std::optional<stop_reason> stop;  // why the loop gave up; empty when truncated or succeeded
};

// The real loop, in virtual time, against an op that always returns `code` and takes no time:
// what it does is what the library will do. `row(call, start, delay)` runs for each call as soon
// as what follows it is known: `delay` is the sleep after it, or empty after the last call.
template <class Row>
loop_summary run_loop(const retry_policy& policy, std::uint32_t code, std::uint32_t max_calls,
                      Row&& row) {
  virtual_time time;
  std::stop_source truncate;
  loop_summary summary;
  const auto result = retry(
      policy,
      [&] {
        ++summary.calls;
        summary.last_start = time.elapsed();
        return code;
      },
      options()
          .with_time(time)
          .with_on_retry([&](std::uint32_t call, const std::error_code&, nanoseconds next) {
            row(summary.calls, summary.last_start, std::optional(next));
            if (call >= max_calls) truncate.request_stop();
          })
          .with_stop(truncate.get_token()));
  if (!result) {
    summary.truncated = result.error().reason == stop_reason::cancelled;
    if (!summary.truncated) summary.stop = result.error().reason;
  }
  if (!summary.truncated) row(summary.calls, summary.last_start, std::optional<nanoseconds>{});
  return summary;
}

std::string stop_text(const loop_summary& s) {
  return s.stop ? std::string(to_string(*s.stop)) : std::string("succeeded");
}

// How the policy treats the simulated code, in words, e.g. "transient under this policy".
std::string verdict_words(const retry_policy& policy, std::uint32_t code) {
  switch (policy.classify()(code)) {
    case verdict::transient:
      return "transient under this policy: every call fails with it";
    case verdict::success:
      return "success under this policy: the first call ends the loop";
    case verdict::permanent:
      break;
  }
  return policy.classify().never_retry_codes().contains(code)
             ? "permanent under this policy (never_retry): the first call stops the loop"
             : "permanent under this policy: the first call stops the loop";
}

}  // namespace

int run_schedule(const schedule_args& args, std::ostream& out, std::ostream& err) {
  auto policy = parse_policy_arg(args.policy, "schedule", err);
  if (!policy) return exit_bad_input;
  std::uint32_t code = 13023;  // ERROR_IPSEC_QM_POLICY_PENDING_DELETION
  if (args.code) {
    const auto parsed = parse_code(*args.code);
    if (!parsed) {
      err << "ipsec-retry schedule: bad --code '" << *args.code << "': " << parsed.error().message()
          << "; expected decimal, 0x hex, an HRESULT or a name like ERROR_BUSY\n";
      return exit_bad_input;
    }
    code = parsed.value();
  }
  policy = with_seed(*policy, args.seed);
  // Random only if there is a delay at all: a code the policy does not retry gives one call.
  const bool random = policy->classify()(code) == verdict::transient && !policy->settings().seed &&
                      (policy->delays().jitter != jitter_mode::none ||
                       policy->delays().strategy == backoff_strategy::decorrelated);

  if (args.json) {
    // Two arrays, each streamed: the loop runs twice with one seed, so both runs are the same.
    const retry_policy seeded =
        policy->settings().seed ? *policy : with_seed(*policy, fresh_seed());
    const auto info = find_code(code);
    json_writer json(out);
    json.begin_object().field("policy", policy->format()).field("code", code).key("code_name");
    if (info) {
      json.value(info->name);
    } else {
      json.null();
    }
    json.field("code_verdict", to_string(policy->classify()(code))).key("delays_ns").begin_array();
    run_loop(seeded, code, args.max_calls, [&](std::uint64_t, nanoseconds, auto delay) {
      if (delay) json.value(delay->count());
    });
    json.end_array().key("call_starts_ns").begin_array();
    const loop_summary s =
        run_loop(seeded, code, args.max_calls,
                 [&](std::uint64_t, nanoseconds start, auto) { json.value(start.count()); });
    json.end_array().field("calls", s.calls).key("stop");
    if (s.truncated) {
      json.null();
    } else {
      json.value(stop_text(s));
    }
    json.field("truncated", s.truncated)
        .field("elapsed_ns", s.last_start.count())
        .field("random", random)
        .end_object();
    out << '\n';
    return exit_ok;
  }

  out << "policy: " << policy->format() << '\n';
  out << "code: " << code_label(code) << ", " << verdict_words(*policy, code) << '\n';
  if (random) {
    out << "note: delays are random on each run; add seed=N (or --seed N) to reproduce them\n";
  }
  out << " call  starts at    then waits\n";
  const loop_summary s =
      run_loop(*policy, code, args.max_calls,
               [&](std::uint64_t call, nanoseconds start, std::optional<nanoseconds> delay) {
                 out << pad_left(std::to_string(call), 5) << "  " << pad(human_duration(start), 13)
                     << (delay ? human_duration(*delay) : "-") << '\n';
               });
  if (s.truncated) {
    out << "(stopped printing after " << args.max_calls << " calls; raise --max-calls)\n";
  } else {
    out << "stop: " << stop_text(s) << " after " << s.calls << (s.calls == 1 ? " call" : " calls")
        << " in " << human_duration(s.last_start) << '\n';
  }
  return exit_ok;
}

}  // namespace ipsec_retry::cli
