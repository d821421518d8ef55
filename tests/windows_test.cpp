// SPDX-License-Identifier: BSL-1.0
// Windows-only paths (built only for WIN32; CI runs them under Wine): the FormatMessageW fallback
// of the win32 category, the UTF-16 <-> UTF-8 conversions (src/windows_text.cpp), and
// std::system_category() codes counting as Windows codes. Written to pass both on Windows and
// under Wine, whose message texts differ from Windows' ("Path not found." for 3) and which has
// no text at all for IPsec codes. No WFP or winipsec.dll call is made: Wine's fwpuclnt.dll
// aborts the process on its unimplemented functions.
#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/win32_error.hpp>

#include "windows_text.hpp"  // src/: ipsec_retry::detail, Windows builds only

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace ir = ipsec_retry;
using namespace std::string_literals;

namespace {

// winerror.h values spelled out, so this file needs no <windows.h>: ERROR_PATH_NOT_FOUND,
// ERROR_IPSEC_QM_POLICY_PENDING_DELETION and its HRESULT.
constexpr std::uint32_t error_path_not_found = 3;
constexpr std::uint32_t error_qm_pending_deletion = 13023;
constexpr std::uint32_t hresult_qm_pending_deletion = 0x800732DF;
// Neither in the library's table nor in Windows' (or Wine's) message tables.
constexpr std::uint32_t unassigned_code = 0xFFFE;

bool has_prefix(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_in_blank(const std::string& s) {
  return !s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ');
}

std::string message(std::uint32_t code) {
  return ir::win32_category().message(static_cast<int>(code));
}

// --- FormatMessageW fallback -------------------------------------------------------------------

TEST(windows_text, code_outside_the_table_gets_the_system_message) {
  ASSERT_FALSE(ir::find_code(error_path_not_found)) << "pick a code the table does not hold";
  const std::string system = ir::detail::system_message_utf8(error_path_not_found);
  // Windows: "The system cannot find the path specified." (or its translation); Wine: "Path
  // not found."
  EXPECT_FALSE(system.empty());
  EXPECT_FALSE(ends_in_blank(system)) << "trailing CR/LF/blank must be trimmed: [" << system << "]";
  EXPECT_EQ(message(error_path_not_found), system);
  EXPECT_FALSE(has_prefix(message(error_path_not_found), "Unknown Windows error"));
}

TEST(windows_text, code_nobody_knows_falls_back_to_the_hex_text) {
  ASSERT_FALSE(ir::find_code(unassigned_code));
  EXPECT_EQ(ir::detail::system_message_utf8(unassigned_code), "");
  EXPECT_EQ(message(unassigned_code), "Unknown Windows error 0xFFFE");
}

TEST(windows_text, ipsec_codes_get_the_library_text_not_the_system_one) {
  // Under Wine FormatMessageW has nothing for 13023; on Windows the table text wins anyway.
  EXPECT_EQ(message(error_qm_pending_deletion), "The Quick Mode policy is pending deletion.");
  const std::error_code from_hresult = ir::hresult{hresult_qm_pending_deletion};
  EXPECT_EQ(from_hresult.message(), "The Quick Mode policy is pending deletion.");
}

// 0x80070000 is a failure; FormatMessageW describes it as ERROR_SUCCESS ("Success." under Wine).
TEST(windows_text, failure_hresult_80070000_is_not_described_as_success) {
  EXPECT_EQ(message(0x80070000), "Unknown Windows error 0x80070000");
  EXPECT_EQ(ir::make_error_code(ir::hresult{0x80070000}).message(),
            "Unknown Windows error 0x80070000");
}

TEST(windows_text, every_table_code_gets_its_table_text) {
  for (const ir::code_info& info : ir::known_codes()) {
    EXPECT_EQ(message(info.value), std::string(info.message)) << info.name;
  }
}

// --- UTF-16 to UTF-8 ---------------------------------------------------------------------------

TEST(windows_text, utf8_from_utf16_converts_non_ascii) {
  EXPECT_EQ(ir::detail::utf8_from_utf16(L""), "");
  EXPECT_EQ(ir::detail::utf8_from_utf16(L"IPsec"), "IPsec");
  // U+00E9 (2 bytes), U+4E2D (3 bytes)
  EXPECT_EQ(ir::detail::utf8_from_utf16(L"\u00e9\u4e2d"), "\xC3\xA9\xE4\xB8\xAD");
  // U+1F600 as the surrogate pair D83D DE00 (4 bytes)
  EXPECT_EQ(ir::detail::utf8_from_utf16(L"\U0001F600"), "\xF0\x9F\x98\x80");
  // The view's length counts, not a terminating NUL.
  EXPECT_EQ(ir::detail::utf8_from_utf16(std::wstring_view(L"a\0b", 3)), "a\0b"s);
  EXPECT_EQ(ir::detail::utf8_from_utf16(std::wstring_view(L"abc", 2)), "ab");
}

TEST(windows_text, utf8_from_utf16_survives_invalid_surrogates) {
  const std::string replacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
  const std::wstring lone_high{L'a', static_cast<wchar_t>(0xD800), L'b'};
  const std::wstring lone_low{static_cast<wchar_t>(0xDC00)};
  const std::wstring high_at_end{L'x', static_cast<wchar_t>(0xDBFF)};
  const std::wstring reversed{static_cast<wchar_t>(0xDE00), static_cast<wchar_t>(0xD83D)};
  for (const std::wstring& text : {lone_high, lone_low, high_at_end, reversed}) {
    const std::string out = ir::detail::utf8_from_utf16(text);
    // Each invalid unit becomes U+FFFD (EF BF BD); the valid characters around it stay.
    EXPECT_NE(out.find(replacement), std::string::npos) << out.size() << " bytes";
  }
  EXPECT_EQ(ir::detail::utf8_from_utf16(lone_high), "a" + replacement + "b");
  EXPECT_EQ(ir::detail::utf8_from_utf16(high_at_end), "x" + replacement);
}

TEST(windows_text, utf8_from_utf16_long_text) {
  const std::wstring text(100000, L'\u00e9');
  const std::string out = ir::detail::utf8_from_utf16(text);
  ASSERT_EQ(out.size(), 200000u);
  EXPECT_EQ(out.substr(199998), "\xC3\xA9");
}

// --- UTF-8 to UTF-16 ---------------------------------------------------------------------------

TEST(windows_text, utf16_from_utf8_converts_non_ascii_and_round_trips) {
  EXPECT_EQ(ir::detail::utf16_from_utf8(""), L"");
  EXPECT_EQ(ir::detail::utf16_from_utf8("IPsec"), L"IPsec");
  EXPECT_EQ(ir::detail::utf16_from_utf8("\xC3\xA9\xE4\xB8\xAD"), L"\u00e9\u4e2d");
  EXPECT_EQ(ir::detail::utf16_from_utf8("\xF0\x9F\x98\x80"), L"\U0001F600");  // a pair
  EXPECT_EQ(ir::detail::utf16_from_utf8(std::string_view("a\0b", 3)), std::wstring(L"a\0b", 3));
  const std::string text = "C:\\Program Files\\\xC3\xA9t\xC3\xA9 \"x\"";
  EXPECT_EQ(ir::detail::utf8_from_utf16(ir::detail::utf16_from_utf8(text)), text);
  // A byte that starts no UTF-8 sequence becomes U+FFFD; the text around it stays.
  EXPECT_EQ(ir::detail::utf16_from_utf8("a\xFF"
                                        "b"),
            L"a\uFFFDb");
}

// --- std::system_category() codes are Windows codes --------------------------------------------

TEST(windows_code, system_category_values_are_win32_codes) {
  const std::error_code ec(static_cast<int>(error_qm_pending_deletion), std::system_category());
  EXPECT_EQ(ir::windows_code(ec), error_qm_pending_deletion);
  EXPECT_EQ(ir::windows_code(std::error_code(0, std::system_category())), 0u);
  // generic_category values are errno values, not Windows codes.
  EXPECT_EQ(ir::windows_code(std::make_error_code(std::errc::permission_denied)), std::nullopt);
}

TEST(windows_code, system_category_codes_are_classified_like_win32_codes) {
  const ir::classifier site;
  const std::error_code pending(static_cast<int>(error_qm_pending_deletion),
                                std::system_category());
  EXPECT_EQ(site(pending), ir::verdict::transient);
  const std::error_code access_denied(5, std::system_category());
  EXPECT_EQ(site(access_denied), ir::verdict::permanent);
  EXPECT_EQ(site(std::error_code(0, std::system_category())), ir::verdict::success);
}

// --- equivalence with std::system_category(), both directions -----------------------------------

// Finding: under Wine, `r.error().code == std::error_code(126, std::system_category())` was
// false. error_code == error_code stays exact by the standard's rules; the comparison against a
// condition, in either direction, is what says "the same Windows code".
TEST(Equivalence, SystemCategoryCode126IsModNotFoundBothWays) {
  const std::error_code library = ir::make_error_code(ir::win32_error::mod_not_found);
  const std::error_code system(126, std::system_category());
  EXPECT_TRUE(library == std::error_condition(126, std::system_category()));
  EXPECT_TRUE(system == ir::make_error_condition(ir::win32_error::mod_not_found));
  EXPECT_TRUE(std::error_condition(126, std::system_category()) == library);
  EXPECT_FALSE(library == std::error_condition(127, std::system_category()));
  EXPECT_FALSE(std::error_code(127, std::system_category()) ==
               ir::make_error_condition(ir::win32_error::mod_not_found));
  EXPECT_FALSE(library == system) << "error_code == error_code compares categories exactly";
}

TEST(Equivalence, EveryTableCodeMatchesItsSystemCategoryValue) {
  for (const ir::code_info& info : ir::known_codes()) {
    const auto value = static_cast<int>(info.value);
    const std::error_code library(value, ir::win32_category());
    EXPECT_TRUE(library == std::error_condition(value, std::system_category())) << info.name;
    EXPECT_TRUE(std::error_code(value, std::system_category()) ==
                std::error_condition(value, ir::win32_category()))
        << info.name;
  }
  // An HRESULT stored in system_category() normalizes like any other.
  const std::error_code system_hresult(static_cast<int>(hresult_qm_pending_deletion),
                                       std::system_category());
  EXPECT_TRUE(system_hresult ==
              ir::make_error_condition(ir::win32_error::ipsec_qm_policy_pending_deletion));
  // generic_category values are errno values, never Windows codes.
  EXPECT_FALSE(std::error_code(5, std::generic_category()) ==
               ir::make_error_condition(ir::win32_error::access_denied));
}

}  // namespace
