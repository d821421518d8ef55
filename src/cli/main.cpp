#include <exception>
#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
  try {
    return ipsec_retry::cli::run(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "ipsec-retry: internal error: " << e.what() << '\n';
    return 3;
  }
}
