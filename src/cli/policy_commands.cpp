// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry check POLICY`, and the policy argument every command parses.
#include <ipsec_retry/retry_policy.hpp>

#include <ostream>

#include "commands.hpp"
#include "output.hpp"

namespace ipsec_retry::cli {

std::optional<retry_policy> parse_policy_arg(const std::string& text, std::string_view command,
                                             std::ostream& err) {
  auto parsed = retry_policy::parse(text);
  if (!parsed) {
    err << "ipsec-retry " << command << ": bad policy '" << text
        << "': " << parsed.error().message() << '\n';
    return std::nullopt;
  }
  return parsed.value();
}

retry_policy with_seed(const retry_policy& policy, std::optional<std::uint64_t> seed) {
  if (!seed) return policy;
  retry_settings settings = policy.settings();
  settings.seed = *seed;
  return retry_policy::make(settings).value();  // a seed is valid in any policy
}

int run_check(const check_args& args, std::ostream& out, std::ostream& err) {
  const auto policy = retry_policy::parse(args.policy);
  if (!policy) {
    const policy_error& e = policy.error();
    err << "ipsec-retry check: bad policy '" << args.policy << "': " << e.message() << '\n';
    if (args.json) {
      json_writer(out)
          .begin_object()
          .field("valid", false)
          .field("error", e.message())
          .field("column", e.column)
          .field("token", e.token)
          .end_object();
      out << '\n';
    }
    return exit_bad_input;
  }
  if (args.json) {
    json_writer(out)
        .begin_object()
        .field("valid", true)
        .field("policy", policy.value().format())
        .end_object();
    out << '\n';
  } else {
    out << policy.value().format() << '\n';
  }
  return exit_ok;
}

}  // namespace ipsec_retry::cli
