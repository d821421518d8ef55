// SPDX-License-Identifier: BSL-1.0
#include <exception>
#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
  try {
    return ipsec_retry::cli::run(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    // run() reports its commands' exceptions itself; this catches what escapes argument parsing.
    std::cerr << "ipsec-retry: internal error: " << e.what() << '\n';
    return ipsec_retry::cli::exit_internal_error;
  }
}
