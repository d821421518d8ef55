// SPDX-License-Identifier: BSL-1.0
#include "command_line.hpp"

#include <cstddef>

namespace ipsec_retry::cli {
namespace {

// The blanks that end an unquoted argument for the C runtime (space, tab) and those that
// CommandLineToArgvW and some runtimes also split on; quoting them all is always safe.
bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v';
}

}  // namespace

std::string quote_windows_argument(std::string_view arg) {
  bool plain = !arg.empty();
  for (const char c : arg) plain = plain && !is_blank(c) && c != '"';
  if (plain) return std::string(arg);

  std::string out;
  out.reserve(arg.size() + 2);
  out += '"';
  std::size_t backslashes = 0;  // the run of backslashes just read, not yet written
  for (const char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    if (c == '"') {
      // 2n backslashes give n, and one more makes the quote a literal one.
      out.append(2 * backslashes + 1, '\\');
    } else {
      out.append(backslashes, '\\');  // not before a quote: backslashes are literal
    }
    backslashes = 0;
    out += c;
  }
  out.append(2 * backslashes, '\\');  // before the closing quote: doubled
  out += '"';
  return out;
}

std::optional<std::string> quote_windows_program(std::string_view program) {
  bool needs_quotes = program.empty();
  for (const char c : program) {
    if (c == '"') return std::nullopt;
    needs_quotes = needs_quotes || is_blank(c);
  }
  if (!needs_quotes) return std::string(program);
  return '"' + std::string(program) + '"';
}

std::optional<std::string> windows_command_line(std::span<const std::string> argv) {
  if (argv.empty()) return std::nullopt;
  auto line = quote_windows_program(argv.front());
  if (!line) return std::nullopt;
  for (const std::string& arg : argv.subspan(1)) {
    *line += ' ';
    *line += quote_windows_argument(arg);
  }
  return line;
}

}  // namespace ipsec_retry::cli
