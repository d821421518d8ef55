// SPDX-License-Identifier: BSL-1.0
// Runs ipsec-retry in-process for tests: argv from a list, stdout and stderr captured.
#pragma once

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"

struct cli_output {
  int exit_code;
  std::string out;
  std::string err;
};

inline cli_output run_cli(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"ipsec-retry"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::ostringstream out, err;
  const int rc = ipsec_retry::cli::run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {rc, out.str(), err.str()};
}

inline cli_output run_cli(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"ipsec-retry"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int rc = ipsec_retry::cli::run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {rc, out.str(), err.str()};
}
