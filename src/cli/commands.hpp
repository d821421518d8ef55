// The ipsec-retry subcommands, callable in-process so tests can drive them with string streams.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace ipsec_retry::cli {

/// Exit codes (DESIGN section 4).
inline constexpr int exit_ok = 0;
inline constexpr int exit_retry_failed = 1;  ///< a simulated retry ended in failure
inline constexpr int exit_bad_input = 2;     ///< bad input; the message on stderr names it

struct explain_args {
  std::vector<std::string> codes;
  bool json = false;
};
int run_explain(const explain_args& args, std::ostream& out, std::ostream& err);

/// Runs the whole tool: argv parsing (CLI11) and dispatch. Used by main() and by tests.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace ipsec_retry::cli
