// `ipsec-retry check POLICY` and `ipsec-retry schedule --policy POLICY`.
#include <ipsec_retry/retry.hpp>

#include <ostream>
#include <stop_token>
#include <vector>

#include "commands.hpp"
#include "output.hpp"

namespace ipsec_retry::cli {

std::optional<retry_policy> parse_policy_arg(const std::string& text, std::string_view command,
                                             std::ostream& err) {
  auto parsed = retry_policy::parse(text);
  if (!parsed) {
    err << "ipsec-retry " << command << ": bad policy '" << text << "': " << parsed.error().message
        << '\n';
    return std::nullopt;
  }
  return parsed.value();
}

int run_check(const check_args& args, std::ostream& out, std::ostream& err) {
  const auto policy = retry_policy::parse(args.policy);
  if (!policy) {
    const policy_error& e = policy.error();
    err << "ipsec-retry check: bad policy '" << args.policy << "': " << e.message << '\n';
    if (args.json) {
      out << "{\"valid\":false,\"error\":" << json_string(e.message) << ",\"column\":" << e.column
          << ",\"token\":" << json_string(e.token) << "}\n";
    }
    return exit_bad_input;
  }
  if (args.json) {
    out << "{\"valid\":true,\"policy\":" << json_string(policy.value().format()) << "}\n";
  } else {
    out << policy.value().format() << '\n';
  }
  return exit_ok;
}

namespace {

// A code this policy treats as transient, so the schedule is "every call failed transiently"
// even when the policy never retries 13023.
std::uint32_t transient_code_for(const retry_policy& policy) {
  for (std::uint32_t code : policy.classify().retry_on_codes().codes()) return code;
  for (std::uint32_t code : {13023u, 13021u, 13018u, 13019u, 13020u, 13022u, 1722u, 1723u, 1727u,
                             1753u, 170u, 1237u, 0x80320012u}) {
    if (policy.classify()(code) == verdict::transient) return code;
  }
  return 13023;  // every default transient code is in never_retry: the schedule is one call
}

}  // namespace

int run_schedule(const schedule_args& args, std::ostream& out, std::ostream& err) {
  auto policy = parse_policy_arg(args.policy, "schedule", err);
  if (!policy) return exit_bad_input;
  if (args.seed) {
    retry_settings settings = policy->settings();
    settings.seed = *args.seed;
    policy = retry_policy::make(settings).value();
  }

  // The real loop, in virtual time, against an op that always fails transiently and takes no
  // time: what it does is what the library will do.
  virtual_time time;
  std::vector<nanoseconds> starts;
  std::vector<nanoseconds> delays;
  std::stop_source truncate;
  const std::uint32_t transient_code = transient_code_for(*policy);
  const auto result = retry(
      *policy,
      [&] {
        starts.push_back(time.elapsed());
        return transient_code;
      },
      retry_options{.clock = time.clock(),
                    .sleeper = time.sleeper(),
                    .on_retry =
                        [&](std::uint32_t call, const std::error_code&, nanoseconds next) {
                          delays.push_back(next);
                          if (call >= args.max_calls) truncate.request_stop();
                        },
                    .stop = truncate.get_token()});
  const retry_error& stopped = result.error();  // the op never succeeds
  const bool truncated = stopped.reason == stop_reason::cancelled;
  const bool random = !delays.empty() && !policy->settings().seed &&
                      (policy->delays().jitter != jitter_mode::none ||
                       policy->delays().strategy == backoff_strategy::decorrelated);

  if (args.json) {
    out << "{\"policy\":" << json_string(policy->format()) << ",\"calls\":" << starts.size()
        << ",\"stop\":"
        << (truncated ? std::string("null") : json_string(to_string(stopped.reason)))
        << ",\"truncated\":" << (truncated ? "true" : "false")
        << ",\"elapsed_ns\":" << (starts.empty() ? 0 : starts.back().count()) << ",\"delays_ns\":[";
    for (std::size_t i = 0; i < delays.size(); ++i) {
      out << (i ? "," : "") << delays[i].count();
    }
    out << "],\"call_starts_ns\":[";
    for (std::size_t i = 0; i < starts.size(); ++i) {
      out << (i ? "," : "") << starts[i].count();
    }
    out << "],\"random\":" << (random ? "true" : "false") << "}\n";
    return exit_ok;
  }

  out << "policy: " << policy->format() << '\n';
  if (random) {
    out << "note: delays are random on each run; add seed=N (or --seed N) to reproduce them\n";
  }
  out << " call  starts at    then waits\n";
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const std::string number = std::to_string(i + 1);
    out << std::string(number.size() < 5 ? 5 - number.size() : 0, ' ') << number << "  "
        << pad(human_duration(starts[i]), 13)
        << (i < delays.size() ? human_duration(delays[i]) : std::string("-")) << '\n';
  }
  if (truncated) {
    out << "(stopped printing after " << args.max_calls << " calls; raise --max-calls)\n";
  } else {
    out << "stop: " << to_string(stopped.reason) << " after " << starts.size()
        << (starts.size() == 1 ? " call" : " calls") << " in "
        << human_duration(starts.empty() ? nanoseconds{} : starts.back()) << '\n';
  }
  return exit_ok;
}

}  // namespace ipsec_retry::cli
