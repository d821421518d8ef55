// SPDX-License-Identifier: BSL-1.0
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"

#if defined(_WIN32)
#include <windows.h>
// After <windows.h>.
#include <shellapi.h>

#include "../windows_text.hpp"
#endif

int main(int argc, char** argv) {
  try {
#if defined(_WIN32)
    // main()'s arguments are in the ANSI code page; the tool works in UTF-8 (`run` converts its
    // command back to UTF-16 for CreateProcessW), so take them from the UTF-16 command line.
    std::vector<std::string> utf8;
    int wide_argc = 0;
    if (wchar_t** wide = ::CommandLineToArgvW(::GetCommandLineW(), &wide_argc)) {
      for (int i = 0; i < wide_argc; ++i)
        utf8.push_back(ipsec_retry::detail::utf8_from_utf16(wide[i]));
      ::LocalFree(wide);
    }
    std::vector<const char*> args;
    for (const std::string& a : utf8) args.push_back(a.c_str());
    if (!args.empty()) {
      return ipsec_retry::cli::run(static_cast<int>(args.size()), args.data(), std::cout,
                                   std::cerr);
    }
#endif
    return ipsec_retry::cli::run(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    // run() reports its commands' exceptions itself; this catches what escapes argument parsing.
    std::cerr << "ipsec-retry: internal error: " << e.what() << '\n';
    return ipsec_retry::cli::exit_internal_error;
  }
}
