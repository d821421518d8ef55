// SPDX-License-Identifier: BSL-1.0
// A Windows program for `ipsec-retry run`'s tests (tests/cli_run_test.cpp, under Wine):
//   exit_codes COUNTER CODE...    counts its runs in the file COUNTER and exits with the k-th
//                                 CODE on run k (the last one from then on), after printing
//                                 "run K exits CODE"; CODE is decimal or 0x hex, any 32 bits
//   exit_codes --print-args ARG...  prints each ARG on a line of its own, as UTF-8, exits 0
// wmain: the arguments as the C runtime splits the UTF-16 command line.
#include <fcntl.h>
#include <io.h>

#include <cstdio>
#include <cstdlib>
#include <cwchar>
#include <fstream>
#include <string>

#include <windows.h>

namespace {

std::string utf8(const wchar_t* text) {
  const int length = static_cast<int>(std::wcslen(text));
  if (length == 0) return {};
  const int bytes = ::WideCharToMultiByte(CP_UTF8, 0, text, length, nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<std::size_t>(bytes), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, text, length, out.data(), bytes, nullptr, nullptr);
  return out;
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
  ::_setmode(::_fileno(stdout), _O_BINARY);
  if (argc >= 2 && std::wstring(argv[1]) == L"--print-args") {
    for (int i = 2; i < argc; ++i) {
      const std::string line = utf8(argv[i]) + '\n';
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    return 0;
  }
  if (argc < 3) {
    std::fputs("usage: exit_codes COUNTER CODE... | exit_codes --print-args ARG...\n", stderr);
    return 2;
  }
  int run = 0;
  {
    std::ifstream in(argv[1]);
    in >> run;
  }
  ++run;
  std::ofstream(argv[1]) << run;
  const int index = run < argc - 2 ? run + 1 : argc - 1;
  const unsigned long code = std::wcstoul(argv[index], nullptr, 0);
  std::printf("run %d exits %lu\n", run, code);
  std::fflush(stdout);
  return static_cast<int>(code);  // ExitProcess keeps all 32 bits
}
