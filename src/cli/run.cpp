// Argument parsing (CLI11) and dispatch for ipsec-retry.
#include <CLI/CLI.hpp>

#include <ostream>

#include "commands.hpp"

#ifndef IPSEC_RETRY_VERSION
#error "IPSEC_RETRY_VERSION must be defined by the build"
#endif

namespace ipsec_retry::cli {

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "ipsec-retry: explain Windows IPsec/WFP error codes and check, print or simulate retry "
      "policies.",
      "ipsec-retry"};
  app.set_version_flag("--version", std::string("ipsec-retry ") + IPSEC_RETRY_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 success, 1 a simulated retry ended in failure, 2 bad input.\n"
      "Codes: decimal (13023), hex (0x32DF), an HRESULT (0x800732DF) or a name "
      "(ERROR_IPSEC_QM_POLICY_PENDING_DELETION).");

  explain_args explain;
  auto* explain_cmd = app.add_subcommand(
      "explain", "Show the name, message, HRESULT and retry verdict of Windows codes.");
  explain_cmd->add_option("CODE", explain.codes, "Codes to explain")->required();
  explain_cmd->add_flag("--json", explain.json, "Print one JSON object");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    app.exit(e, out, err);
    return exit_bad_input;
  }

  if (explain_cmd->parsed()) return run_explain(explain, out, err);
  return exit_bad_input;
}

}  // namespace ipsec_retry::cli
