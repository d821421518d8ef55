// SPDX-License-Identifier: BSL-1.0
// The ipsec-retry subcommands, callable in-process so tests can drive them with string streams.
#pragma once

#include <ipsec_retry/retry_policy.hpp>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipsec_retry::cli {

/// Exit codes (docs/cli.md, "Exit status").
inline constexpr int exit_ok = 0;
inline constexpr int exit_retry_failed = 1;    ///< a simulated retry ended in failure
inline constexpr int exit_bad_input = 2;       ///< bad input; the message on stderr names it
inline constexpr int exit_internal_error = 3;  ///< an unexpected exception (a bug, bad_alloc)

struct explain_args {
  std::vector<std::string> codes;
  bool json = false;
};
int run_explain(const explain_args& args, std::ostream& out, std::ostream& err);

struct check_args {
  std::string policy;
  bool json = false;
};
int run_check(const check_args& args, std::ostream& out, std::ostream& err);

struct schedule_args {
  std::string policy;
  std::optional<std::uint64_t> seed;  ///< overrides the policy's seed
  std::uint32_t max_calls = 1000;     ///< stop listing after this many calls
  std::optional<std::string> code;    ///< the code every call returns; unset: 13023
  bool json = false;
};
int run_schedule(const schedule_args& args, std::ostream& out, std::ostream& err);

struct simulate_args {
  std::string policy;
  std::optional<std::string> completes_after;  ///< a policy pending deletion until then
  std::optional<std::string> object;           ///< a filter kind: the filter story
  std::optional<std::string> held_for;         ///< another client's handle closes then
  bool replace = false;                        ///< the replace story
  bool operation_given = false;                ///< --operation was on the command line
  std::string operation = "add";
  std::string call_latency = "0ms";
  std::vector<std::string> injections;  ///< "N:CODE"
  std::optional<std::uint64_t> seed;
  std::optional<std::uint32_t> callers;  ///< N concurrent callers (a discrete-event simulation)
  bool coalesce = false;                 ///< with callers: coalesced waits (coalesce.hpp)
  std::optional<std::string> budget;     ///< with callers: a shared retry_budget's settings
  bool json = false;
};
int run_simulate(const simulate_args& args, std::ostream& out, std::ostream& err);

struct run_args {
  std::optional<std::string> policy;
  std::optional<std::string> site;       ///< the policy of this call site (call_sites.hpp)
  std::optional<std::string> config;     ///< with site: a configuration file loaded first
  std::optional<std::string> code_from;  ///< a regex: group 1 in the output is the code
  bool json = false;
  std::vector<std::string> command;  ///< the program (found on PATH) and its arguments
};
/// Exit status: the last run's (docs/cli.md, "run"), or exit_bad_input.
int run_command(const run_args& args, std::ostream& out, std::ostream& err);

struct sites_args {
  std::optional<std::string> config;  ///< a call-site configuration file loaded first
  bool no_env = false;                ///< ignore the IPSEC_RETRY_* variables
  bool json = false;
};
/// Exit status: 0, or exit_bad_input for an unreadable file or a bad line, variable or value.
int run_sites(const sites_args& args, std::ostream& out, std::ostream& err);

/// Parses a policy argument; on error writes "ipsec-retry COMMAND: bad policy ..." to `err`.
std::optional<retry_policy> parse_policy_arg(const std::string& text, std::string_view command,
                                             std::ostream& err);

/// `policy` with its jitter seed replaced by `seed` (--seed), or unchanged without one.
retry_policy with_seed(const retry_policy& policy, std::optional<std::uint64_t> seed);

/// Runs the whole tool: argv parsing (CLI11) and dispatch. Used by main() and by tests.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace ipsec_retry::cli
