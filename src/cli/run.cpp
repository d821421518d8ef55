// SPDX-License-Identifier: BSL-1.0
// Argument parsing (CLI11) and dispatch for ipsec-retry.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdint>
#include <exception>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"

#ifndef IPSEC_RETRY_VERSION
#error "IPSEC_RETRY_VERSION must be defined by the build"
#endif

namespace ipsec_retry::cli {
namespace {

// A validator for whole numbers in [min, max] of T with a message that names the value, e.g.
// "--seed: '-3' is not a whole number from 0 to 18446744073709551615".
template <class T>
CLI::Validator whole_number(T min, T max) {
  return CLI::Validator(
      [min, max](const std::string& text) -> std::string {
        T value{};
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc{} && end == text.data() + text.size() && value >= min && value <= max) {
          return {};
        }
        return "'" + text + "' is not a whole number from " + std::to_string(min) + " to " +
               std::to_string(max);
      },
      "");
}

// Each subcommand's help lists exactly the exit statuses it can return (CLI11 would otherwise
// copy the top-level footer, which lists them all).
constexpr const char* codes_help =
    "Codes: decimal (13023), hex (0x32DF), an HRESULT (0x800732DF) or a name "
    "(ERROR_IPSEC_QM_POLICY_PENDING_DELETION, E_FAIL).";
constexpr const char* exits_without_1 = "Exit status: 0 success, 2 bad input, 3 internal error.";

// The subcommand a command line names ("" when none): the first argument, as the top level
// takes no option other than --help and --version.
std::string command_of(int argc, const char* const* argv, const CLI::App& app) {
  if (argc < 2) return {};
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == argv[1]) return argv[1];
  }
  return {};
}

}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "ipsec-retry: explain Windows IPsec/WFP error codes, check, print or simulate retry "
      "policies, and run a command under one.",
      "ipsec-retry"};
  app.set_version_flag("--version", std::string("ipsec-retry ") + IPSEC_RETRY_VERSION);
  app.require_subcommand(1);
  app.footer(
      std::string("Exit status: 0 success, 1 simulate: the simulated retry ended in failure, "
                  "2 bad input, 3 internal error; run: the last run's own exit status.\n") +
      codes_help);

  explain_args explain;
  auto* explain_cmd = app.add_subcommand(
      "explain", "Show the name, message, HRESULT and retry verdict of Windows codes.");
  explain_cmd->add_option("CODE", explain.codes, "Codes to explain")->required();
  explain_cmd->add_flag("--json", explain.json, "Print one JSON object");
  explain_cmd->footer(std::string(exits_without_1) + '\n' + codes_help +
                      "\nexplain also takes the HRESULT names S_OK, S_FALSE, E_ACCESSDENIED, "
                      "E_HANDLE, E_INVALIDARG and E_OUTOFMEMORY.");

  check_args check;
  auto* check_cmd = app.add_subcommand(
      "check", "Validate a policy string and print it normalized (every key, canonical values).");
  check_cmd->add_option("POLICY", check.policy, "e.g. \"timeout=5s, initial=10ms\"")->required();
  check_cmd->add_flag("--json", check.json, "Print one JSON object");
  check_cmd->footer(exits_without_1);

  schedule_args schedule;
  auto* schedule_cmd = app.add_subcommand(
      "schedule",
      "Print the calls a policy makes when every call fails transiently and takes no time "
      "(the real retry loop, run in virtual time).");
  schedule_cmd->add_option("--policy", schedule.policy, "The policy string")->required();
  schedule_cmd->add_option("--seed", schedule.seed, "Jitter seed (overrides the policy's)")
      ->check(whole_number<std::uint64_t>(0, std::numeric_limits<std::uint64_t>::max()));
  schedule_cmd->add_option("--max-calls", schedule.max_calls, "Stop listing after N calls")
      ->check(whole_number<std::uint32_t>(1, std::numeric_limits<std::uint32_t>::max()));
  schedule_cmd->add_option("--code", schedule.code,
                           "The code every call returns (default 13023, "
                           "ERROR_IPSEC_QM_POLICY_PENDING_DELETION); the policy classifies it");
  schedule_cmd->add_flag("--json", schedule.json, "Print one JSON object");
  schedule_cmd->footer(std::string(exits_without_1) + '\n' + codes_help);

  simulate_args simulate;
  auto* simulate_cmd = app.add_subcommand(
      "simulate",
      "Run a policy in virtual time against the simulated Policy Agent: a QM policy whose "
      "deletion completes DURATION after the first call (--completes-after), a filter another "
      "client holds open (--object), or the replace story (--replace). Exit 1 if the outcome is "
      "not success.");
  simulate_cmd->add_option("--policy", simulate.policy, "The policy string")->required();
  simulate_cmd->add_option("--completes-after", simulate.completes_after,
                           "Scenario: a QM policy pending deletion until then, e.g. 730ms");
  simulate_cmd->add_option("--object", simulate.object,
                           "Scenario: transport-filter, tunnel-filter or mm-filter, deleted at 0 "
                           "while another client holds it open (--held-for)");
  simulate_cmd->add_flag("--replace", simulate.replace,
                         "Scenario: replace QM policy corp-qm, which a transport filter uses");
  simulate_cmd->add_option("--held-for", simulate.held_for,
                           "With --object or --replace: when the other client closes its handle");
  auto* operation_opt = simulate_cmd->add_option(
      "--operation", simulate.operation,
      "add (default), set or delete; with --object: add (default) or open");
  simulate_cmd->add_option("--call-latency", simulate.call_latency,
                           "Virtual time each call takes (default 0ms)");
  simulate_cmd->add_option("--inject", simulate.injections,
                           "N:CODE makes call N return CODE whatever the agent's state");
  simulate_cmd->add_option("--seed", simulate.seed, "Jitter seed (overrides the policy's)")
      ->check(whole_number<std::uint64_t>(0, std::numeric_limits<std::uint64_t>::max()));
  auto* callers_opt =
      simulate_cmd
          ->add_option("--callers", simulate.callers,
                       "N concurrent callers, all starting at time 0 (discrete-event simulation)")
          ->check(whole_number<std::uint32_t>(1, 100000));
  simulate_cmd
      ->add_flag("--coalesce", simulate.coalesce,
                 "With --callers: coalesce the waits on the pending deletion")
      ->needs(callers_opt);
  simulate_cmd
      ->add_option("--budget", simulate.budget,
                   "With --callers: a retry budget shared by all callers, e.g. "
                   "\"max_tokens=10, token_ratio=0.1\"")
      ->needs(callers_opt);
  simulate_cmd->add_flag("--json", simulate.json, "Print one JSON object");
  simulate_cmd->footer(std::string("Exit status: 0 the simulated retry succeeded, 1 it ended in "
                                   "failure, 2 bad input, 3 internal error.\n") +
                       codes_help);

  sites_args sites;
  auto* sites_cmd = app.add_subcommand(
      "sites",
      "Show every call site's effective policy, budget and breaker on this host, and where each "
      "came from: default, FILE:LINE, an IPSEC_RETRY_* variable or (Windows) a Group Policy "
      "registry value. Validates a configuration file before it is deployed.");
  sites_cmd->add_option("--config", sites.config, "A call-site configuration file to load first");
  sites_cmd->add_flag("--no-env", sites.no_env, "Ignore the IPSEC_RETRY_* environment variables");
  sites_cmd->add_flag("--json", sites.json, "Print one JSON object");
  sites_cmd->footer(
      "Precedence, lowest first: default, --config, environment, HKCU, HKLM "
      "(SOFTWARE\\Policies\\ipsec_retry).\n"
      "Exit status: 0 success, 2 an unreadable file or a bad line, variable or registry value "
      "(named on stderr), 3 internal error.");

  run_args run_cmd_args;
  auto* run_cmd = app.add_subcommand(
      "run",
      "Run COMMAND (found on PATH) until its exit status, read as a Windows code, is not "
      "transient under the policy: the library's retry loop (backoff, attempts, deadline, "
      "retry_on, never_retry, success_on) decides each run.");
  auto* policy_opt = run_cmd->add_option("--policy", run_cmd_args.policy, "The policy string");
  auto* site_opt =
      run_cmd
          ->add_option("--site", run_cmd_args.site,
                       "The policy of this call site (e.g. qm.delete) from the sources `sites` "
                       "reads: --config, the IPSEC_RETRY_* environment variables and (Windows) "
                       "Group Policy's registry values")
          ->excludes(policy_opt);
  run_cmd
      ->add_option("--config", run_cmd_args.config,
                   "With --site: a call-site configuration file to load first")
      ->needs(site_opt);
  run_cmd->add_option("--code-from", run_cmd_args.code_from,
                      "REGEX (ECMAScript): the code is what group 1 matches in the first "
                      "matching line of the output (stdout, then stderr); no match: the exit "
                      "status");
  run_cmd->add_flag("--json", run_cmd_args.json, "Print one JSON summary line on stderr");
  // The command is what follows the first "--" (split off before parsing, so its own options
  // are never read as run's); this positional only catches words given without one.
  std::vector<std::string> stray_words;
  run_cmd->add_option("COMMAND", stray_words, "The command and its arguments, after --");
  run_cmd->footer(
      "Exit status: the last run's exit status (POSIX: 0-255, 128+N if signal N killed it; "
      "Windows: the full 32-bit code); 130 if interrupted before the first run; 2 bad input or "
      "the command cannot start; 3 internal error.\n" +
      std::string(codes_help));

  // `run ... -- COMMAND ARG...`: CLI11 parses what comes before the "--".
  int parsed_argc = argc;
  bool dashes = false;
  if (argc >= 2 && std::string_view(argv[1]) == "run") {
    for (int i = 2; i < argc; ++i) {
      if (std::string_view(argv[i]) != "--") continue;
      run_cmd_args.command.assign(argv + i + 1, argv + argc);
      parsed_argc = i;
      dashes = true;
      break;
    }
  }

  try {
    app.parse(parsed_argc, argv);
    if (run_cmd->parsed() && (!dashes || run_cmd_args.command.empty())) {
      throw CLI::ParseError(dashes ? "no COMMAND after '--'"
                                   : "COMMAND and its arguments go after '--': ipsec-retry run "
                                     "--policy POLICY -- COMMAND [ARG...]",
                            CLI::ExitCodes::RequiredError);
    }
    simulate.operation_given = operation_opt->count() != 0;
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    // Every error names the command it is about, as the commands' own errors do.
    const std::string command = command_of(argc, argv, app);
    const std::string prefix = command.empty() ? "ipsec-retry" : "ipsec-retry " + command;
    err << prefix << ": ";
    if (command.empty() && argc >= 2 && argv[1][0] != '-') {
      err << "unknown command '" << argv[1]
          << "' (expected explain, check, schedule, simulate, sites or run)";
    } else {
      err << e.what();
      if (command == "run" && !dashes && !std::string_view(e.what()).starts_with("COMMAND")) {
        err << " (the COMMAND to run and its arguments go after '--')";
      }
    }
    err << "\nRun '" << prefix << " --help' for more information.\n";
    return exit_bad_input;
  }

  const std::string command = command_of(argc, argv, app);
  try {
    if (explain_cmd->parsed()) return run_explain(explain, out, err);
    if (check_cmd->parsed()) return run_check(check, out, err);
    if (schedule_cmd->parsed()) return run_schedule(schedule, out, err);
    if (simulate_cmd->parsed()) return run_simulate(simulate, out, err);
    if (sites_cmd->parsed()) return run_sites(sites, out, err);
    if (run_cmd->parsed()) return run_command(run_cmd_args, out, err);
  } catch (const std::exception& e) {  // a bug or std::bad_alloc: say so, never a bad-input 2
    err << "ipsec-retry " << command << ": internal error: " << e.what() << '\n';
    return exit_internal_error;
  }
  return exit_bad_input;
}

}  // namespace ipsec_retry::cli
