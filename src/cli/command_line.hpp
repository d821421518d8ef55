// SPDX-License-Identifier: BSL-1.0
// A Windows command line from an argument list, for `ipsec-retry run` (CreateProcessW takes one
// string, which the started program splits back into arguments). Pure string functions, built
// and tested on every platform.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ipsec_retry::cli {

/// One argument (after the program name) written so that the Microsoft C runtime's argv parser
/// and CommandLineToArgvW give it back unchanged:
///   * left as it is when it is not empty and holds no blank (space, tab, newline, vertical
///     tab) and no '"';
///   * else quoted: `"` + the text + `"`, where a '"' becomes `\"`, and backslashes are doubled
///     where they come before a '"' (an escaped one, or the closing quote); other backslashes
///     stay single (`C:\a b\` -> `"C:\a b\\"`, `a\"b` -> `"a\\\"b"`, "" -> `""`).
/// Bytes other than these are copied, so UTF-8 text stays UTF-8 (convert the whole line).
std::string quote_windows_argument(std::string_view arg);

/// The program name, the command line's first word: quoted when empty or holding a blank. It
/// is parsed by other rules (no backslash escapes: everything up to the closing quote), so a
/// '"' cannot be written: nullopt then (a Windows file name cannot hold one either).
std::optional<std::string> quote_windows_program(std::string_view program);

/// The whole command line: the program, then each argument, separated by one space; nullopt
/// when the program name holds a '"' (or `argv` is empty).
std::optional<std::string> windows_command_line(std::span<const std::string> argv);

}  // namespace ipsec_retry::cli
