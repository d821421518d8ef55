// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/win32_error.hpp>

#include <gtest/gtest.h>

#include <sstream>

#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <regex>
#include <string>
#include <system_error>

namespace ir = ipsec_retry;

namespace {

// name -> value of every `#define NAME __MSABI_LONG(n)` / `_HRESULT_TYPEDEF_(0x...)` in
// mingw-w64's winerror.h. Commented-out defines do not match (the line must start with #define).
std::map<std::string, std::uint32_t> read_winerror_h() {
  std::ifstream in(IPSEC_RETRY_WINERROR_H);
  EXPECT_TRUE(in) << "cannot open " << IPSEC_RETRY_WINERROR_H;
  const std::regex define(
      R"(^#define\s+([A-Z0-9_]+)\s+(?:__MSABI_LONG|_HRESULT_TYPEDEF_)\(\s*(0x[0-9A-Fa-f]+|[0-9]+)L?\s*\))");
  std::map<std::string, std::uint32_t> out;
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, define)) {
      out[m[1]] = static_cast<std::uint32_t>(std::stoul(m[2], nullptr, 0));
    }
  }
  return out;
}

bool has_prefix(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

const std::map<std::string, std::uint32_t>& header() {
  static const auto defines = read_winerror_h();
  return defines;
}

}  // namespace

TEST(CodeTable, EveryIpsecAndFwpCodeInWinerrorHIsKnownWithTheSameName) {
  int checked = 0;
  for (const auto& [name, value] : header()) {
    if (!has_prefix(name, "ERROR_IPSEC_") && !has_prefix(name, "WARNING_IPSEC_") &&
        !has_prefix(name, "FWP_E_")) {
      continue;
    }
    ++checked;
    const auto by_name = ir::find_code(name);
    ASSERT_TRUE(by_name) << name << " is missing from the table";
    EXPECT_EQ(by_name->value, value) << name;
    const auto by_value = ir::find_code(value);
    ASSERT_TRUE(by_value) << name;
    EXPECT_EQ(by_value->name, name);
    EXPECT_EQ(by_value->kind,
              has_prefix(name, "FWP_E_") ? ir::code_kind::hresult : ir::code_kind::win32);
  }
  // mingw-w64 10 defines 150 ERROR_/WARNING_IPSEC_ codes and 57 FWP_E_ codes.
  EXPECT_GE(checked, 207);
}

TEST(CodeTable, EveryTableEntryMatchesWinerrorH) {
  for (const auto& info : ir::known_codes()) {
    const auto it = header().find(std::string(info.name));
    ASSERT_NE(it, header().end()) << info.name << " is not defined in winerror.h";
    EXPECT_EQ(it->second, info.value) << info.name;
  }
}

TEST(CodeTable, IsSortedUniqueAndEveryEntryHasAMessage) {
  const auto codes = ir::known_codes();
  ASSERT_GE(codes.size(), 230u);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    SCOPED_TRACE(codes[i].name);
    if (i > 0) {
      EXPECT_LT(codes[i - 1].value, codes[i].value);
    }
    EXPECT_FALSE(codes[i].message.empty());
    // The category serves the table's text.
    EXPECT_EQ(ir::make_error_code(ir::win32_error{codes[i].value}).message(), codes[i].message);
    EXPECT_EQ(ir::find_code(codes[i].name)->value, codes[i].value);
    EXPECT_EQ(ir::parse_code(codes[i].name).value(), codes[i].value);
  }
}

TEST(CodeTable, RequiredWin32AndRpcCodesArePresent) {
  const std::pair<const char*, std::uint32_t> required[] = {
      {"ERROR_SUCCESS", 0},
      {"ERROR_ACCESS_DENIED", 5},
      {"ERROR_INVALID_PARAMETER", 87},
      {"ERROR_NOT_ENOUGH_MEMORY", 8},
      {"ERROR_OUTOFMEMORY", 14},
      {"ERROR_NOT_SUPPORTED", 50},
      {"ERROR_BUSY", 170},
      {"ERROR_RETRY", 1237},
      {"ERROR_TIMEOUT", 1460},
      {"ERROR_MOD_NOT_FOUND", 126},
      {"ERROR_PROC_NOT_FOUND", 127},
      {"ERROR_CALL_NOT_IMPLEMENTED", 120},
      {"RPC_S_SERVER_UNAVAILABLE", 1722},
      {"RPC_S_SERVER_TOO_BUSY", 1723},
      {"RPC_S_CALL_FAILED", 1726},
      {"RPC_S_CALL_FAILED_DNE", 1727},
      {"RPC_S_COMM_FAILURE", 1820},
      {"RPC_S_CALL_CANCELLED", 1818},
      {"EPT_S_NOT_REGISTERED", 1753},
      {"RPC_S_CANNOT_SUPPORT", 1764},
  };
  for (const auto& [name, value] : required) {
    const auto info = ir::find_code(std::string_view(name));
    ASSERT_TRUE(info) << name;
    EXPECT_EQ(info->value, value) << name;
  }
}

// Microsoft's "System Error Codes (12000-15999)" page, word for word.
TEST(CodeTable, IpsecPolicyAgentMessagesAreMicrosoftsText) {
  const std::pair<std::uint32_t, const char*> documented[] = {
      {13000, "The specified quick mode policy already exists."},
      {13001, "The specified quick mode policy was not found."},
      {13002, "The specified quick mode policy is being used."},
      {13003, "The specified main mode policy already exists."},
      {13004, "The specified main mode policy was not found."},
      {13005, "The specified main mode policy is being used."},
      {13006, "The specified main mode filter already exists."},
      {13007, "The specified main mode filter was not found."},
      {13008, "The specified transport mode filter already exists."},
      {13009, "The specified transport mode filter does not exist."},
      {13010, "The specified main mode authentication list exists."},
      {13011, "The specified main mode authentication list was not found."},
      {13012, "The specified main mode authentication list is being used."},
      {13013, "The specified default main mode policy was not found."},
      {13014, "The specified default main mode authentication list was not found."},
      {13015, "The specified default quick mode policy was not found."},
      {13016, "The specified tunnel mode filter exists."},
      {13017, "The specified tunnel mode filter was not found."},
      {13018, "The Main Mode filter is pending deletion."},
      {13019, "The transport filter is pending deletion."},
      {13020, "The tunnel filter is pending deletion."},
      {13021, "The Main Mode policy is pending deletion."},
      {13022, "The Main Mode authentication bundle is pending deletion."},
      {13023, "The Quick Mode policy is pending deletion."},
      {13024,
       "The Main Mode policy was successfully added, but some of the requested offers are not "
       "supported."},
      {13025,
       "The Quick Mode policy was successfully added, but some of the requested offers are not "
       "supported."},
  };
  for (const auto& [value, text] : documented) {
    EXPECT_EQ(ir::make_error_code(ir::win32_error{value}).message(), text) << value;
  }
  EXPECT_EQ(ir::make_error_code(ir::win32_error::access_denied).message(), "Access is denied.");
  EXPECT_EQ(ir::make_error_code(ir::win32_error::rpc_s_server_unavailable).message(),
            "The RPC server is unavailable.");
  EXPECT_EQ(ir::make_error_code(ir::hresult::fwp_e_timeout).message(),
            "The call timed out while waiting to acquire the transaction lock.");
}

TEST(Category, HasOneIdentityAndAStableName) {
  EXPECT_STREQ(ir::win32_category().name(), "win32");
  EXPECT_EQ(&ir::win32_category(), &ir::make_error_code(ir::win32_error::busy).category());
  EXPECT_EQ(&ir::win32_category(), &ir::make_error_code(ir::hresult::fwp_e_timeout).category());
}

TEST(Category, UnknownCodesGetAMessageNamingTheValue) {
  EXPECT_EQ(ir::make_error_code(ir::win32_error{99999}).message(), "Unknown Windows error 0x1869F");
  EXPECT_EQ(ir::make_error_code(ir::hresult{0x8BADF00D}).message(),
            "Unknown Windows error 0x8BADF00D");
}

TEST(Category, PortableConditionsForCommonCodes) {
  EXPECT_EQ(ir::make_error_code(ir::win32_error::access_denied), std::errc::permission_denied);
  EXPECT_EQ(ir::make_error_code(ir::win32_error::timeout), std::errc::timed_out);
  EXPECT_EQ(ir::make_error_code(ir::win32_error::cancelled), std::errc::operation_canceled);
  EXPECT_NE(ir::make_error_code(ir::win32_error::ipsec_qm_policy_pending_deletion),
            std::errc::timed_out);
}

TEST(Hresult, FromWin32FollowsTheSdkMacro) {
  static_assert(ir::hresult_from_win32(ir::win32_error::ipsec_qm_policy_pending_deletion) ==
                ir::hresult{0x800732DF});
  static_assert(ir::hresult_from_win32(ir::win32_error::success) == ir::hresult::s_ok);
  EXPECT_EQ(ir::hresult_from_win32(ir::win32_error::access_denied), ir::hresult{0x80070005});
  EXPECT_EQ(ir::hresult_from_win32(ir::win32_error::rpc_s_server_unavailable),
            ir::hresult{0x800706BA});
  // A value that is already an HRESULT (bit 31 set) passes through, as in the SDK.
  EXPECT_EQ(ir::hresult_from_win32(ir::win32_error{0x80320012}), ir::hresult{0x80320012});
}

TEST(Hresult, InverseRecoversTheWin32Code) {
  static_assert(ir::win32_from_hresult(ir::hresult{0x800732DF}) ==
                ir::win32_error::ipsec_qm_policy_pending_deletion);
  EXPECT_EQ(ir::win32_from_hresult(ir::hresult::s_ok), ir::win32_error::success);
  EXPECT_FALSE(ir::win32_from_hresult(ir::hresult::fwp_e_timeout));  // FWP_E_* stay HRESULTs
  EXPECT_FALSE(ir::win32_from_hresult(ir::hresult::e_fail));
  EXPECT_FALSE(ir::win32_from_hresult(ir::hresult{1}));  // S_FALSE
}

TEST(Hresult, RoundTripsEveryWin32CodeInTheTable) {
  for (const auto& info : ir::known_codes()) {
    if (info.kind != ir::code_kind::win32) continue;
    const auto code = ir::win32_error{info.value};
    const auto hr = ir::hresult_from_win32(code);
    EXPECT_EQ(ir::win32_from_hresult(hr), code) << info.name;
    EXPECT_EQ(ir::make_error_code(hr), ir::make_error_code(code)) << info.name;
    if (info.value != 0) {
      EXPECT_TRUE(ir::failed(hr)) << info.name;
      EXPECT_EQ(ir::facility(hr), ir::facility_win32) << info.name;
    }
  }
}

TEST(Hresult, FwpCodesStayHresults) {
  for (const auto& info : ir::known_codes()) {
    if (info.kind != ir::code_kind::hresult) continue;
    // FWP_E_* and the FACILITY_NULL E_* (E_FAIL, E_NOTIMPL, ...): never a Win32 wrapper.
    EXPECT_NE(ir::facility(ir::hresult{info.value}), ir::facility_win32) << info.name;
    if (has_prefix(std::string(info.name), "FWP_E_")) {
      EXPECT_EQ(ir::facility(ir::hresult{info.value}), ir::facility_fwp) << info.name;
    }
    EXPECT_EQ(ir::normalize(ir::hresult{info.value}), info.value) << info.name;
  }
}

TEST(WindowsCode, OnlyWin32CategoryCodesAreWindowsCodes) {
  EXPECT_EQ(ir::windows_code(ir::make_error_code(ir::win32_error::busy)), 170u);
  EXPECT_EQ(ir::windows_code(ir::make_error_code(ir::hresult{0x800732DF})), 13023u);
  EXPECT_FALSE(ir::windows_code(std::make_error_code(std::errc::timed_out)));
#ifndef _WIN32
  EXPECT_FALSE(ir::windows_code(std::error_code(5, std::system_category())));
#else
  EXPECT_EQ(ir::windows_code(std::error_code(5, std::system_category())), 5u);
#endif
}

// The edge values of the HRESULT <-> Win32 mapping: what each one normalizes to, and whether
// it wraps a Win32 code. No failure HRESULT may come out as 0 (success).
struct hresult_edge {
  std::uint32_t hresult;
  std::optional<std::uint32_t> win32;  // win32_from_hresult
  std::uint32_t normalized;
  const char* what;
};

TEST(Normalize, FailureHresult80070000IsNotSuccess) {
  const hresult_edge edges[] = {
      {0x00000000, 0, 0, "S_OK is ERROR_SUCCESS"},
      {0x80070000, std::nullopt, 0x80070000, "failure, FACILITY_WIN32, code 0: its own bits"},
      {0x8007FFFF, 0xFFFF, 0xFFFF, "the largest wrapped Win32 code"},
      {0x80070005, 5, 5, "E_ACCESSDENIED wraps ERROR_ACCESS_DENIED"},
      {0x00070005, std::nullopt, 0x00070005, "success HRESULT with FACILITY_WIN32: no Win32 code"},
      {0x00000001, std::nullopt, 1, "S_FALSE keeps its bits"},
      {0xFFFFFFFF, std::nullopt, 0xFFFFFFFF, "all bits: a failure, facility 0x1FFF"},
  };
  for (const auto& e : edges) {
    const ir::hresult hr{e.hresult};
    const auto win32 = ir::win32_from_hresult(hr);
    ASSERT_EQ(win32.has_value(), e.win32.has_value()) << e.what;
    if (win32) {
      EXPECT_EQ(ir::to_underlying(*win32), *e.win32) << e.what;
    }
    EXPECT_EQ(ir::normalize(hr), e.normalized) << e.what;
    EXPECT_EQ(ir::windows_code(ir::make_error_code(hr)), e.normalized) << e.what;
    if (ir::failed(hr)) {
      EXPECT_NE(ir::normalize(hr), 0u) << e.what;
      EXPECT_TRUE(ir::make_error_code(hr)) << e.what << ": a failure must be a truthy error_code";
    }
  }
  static_assert(!ir::win32_from_hresult(ir::hresult{0x80070000}));
  static_assert(ir::normalize(ir::hresult{0x80070000}) == 0x80070000);
  // Every 0x8007xxxx, and both spellings users type: never success.
  for (std::uint32_t code = 0; code <= 0xFFFF; ++code) {
    ASSERT_NE(ir::normalize(ir::hresult{0x80070000u | code}), 0u) << code;
  }
  EXPECT_EQ(ir::parse_code("0x80070000").value(), 0x80070000u);
  EXPECT_EQ(ir::parse_code("-2147024896").value(), 0x80070000u);
  EXPECT_EQ(ir::make_error_code(ir::hresult{0x80070000}).message(),
            "Unknown Windows error 0x80070000");
}

// ---- equivalence with codes of other categories ---------------------------------------------

TEST(Equivalence, LibraryCodesMatchTheirOwnConditions) {
  const std::error_code mod = ir::make_error_code(ir::win32_error::mod_not_found);
  EXPECT_EQ(mod, ir::make_error_condition(ir::win32_error::mod_not_found));
  EXPECT_EQ(ir::make_error_code(ir::hresult{0x8007007E}),
            ir::make_error_condition(ir::win32_error::mod_not_found));
  EXPECT_EQ(mod, ir::make_error_condition(ir::hresult{0x8007007E}));
  EXPECT_NE(mod, ir::make_error_condition(ir::win32_error::proc_not_found));
  // A code with a portable condition keeps both.
  const std::error_code denied = ir::make_error_code(ir::win32_error::access_denied);
  EXPECT_EQ(denied, ir::make_error_condition(ir::win32_error::access_denied));
  EXPECT_EQ(denied, std::errc::permission_denied);
  EXPECT_NE(denied, std::errc::timed_out);
}

TEST(Equivalence, SystemCategoryIsWindowsCodesOnlyOnWindows) {
  const std::error_code mod = ir::make_error_code(ir::win32_error::mod_not_found);
  const std::error_code system_126(126, std::system_category());
  // error_code == error_code compares category and value, on every OS.
  EXPECT_NE(mod, system_126);
#ifndef _WIN32
  // Here system_category() holds errno values: 126 is not ERROR_MOD_NOT_FOUND.
  EXPECT_NE(mod, std::error_condition(126, std::system_category()));
  EXPECT_NE(system_126, ir::make_error_condition(ir::win32_error::mod_not_found));
#else
  EXPECT_EQ(mod, std::error_condition(126, std::system_category()));
  EXPECT_EQ(system_126, ir::make_error_condition(ir::win32_error::mod_not_found));
#endif
}

struct parse_case {
  const char* text;
  std::uint32_t expected;
  friend std::ostream& operator<<(std::ostream& os, const parse_case& c) {
    return os << '"' << c.text << '"';
  }
};

class ParseCode : public testing::TestWithParam<parse_case> {};

TEST_P(ParseCode, GivesTheNormalizedValue) {
  const auto parsed = ir::parse_code(GetParam().text);
  ASSERT_TRUE(parsed) << GetParam().text << ": " << parsed.error().message();
  EXPECT_EQ(parsed.value(), GetParam().expected) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Spellings, ParseCode,
    testing::Values(parse_case{"13023", 13023}, parse_case{"0x32DF", 13023},
                    parse_case{"0x32df", 13023}, parse_case{"0X32DF", 13023},
                    parse_case{"0x800732DF", 13023}, parse_case{"-2147011873", 13023},
                    parse_case{"ERROR_IPSEC_QM_POLICY_PENDING_DELETION", 13023},
                    parse_case{"  13023\t", 13023}, parse_case{"0", 0},
                    parse_case{"ERROR_SUCCESS", 0}, parse_case{"0x80070000", 0x80070000},
                    parse_case{"FWP_E_TIMEOUT", 0x80320012}, parse_case{"0x80320012", 0x80320012},
                    parse_case{"4294967295", 0xFFFFFFFF}, parse_case{"+5", 5},
                    parse_case{"-2147483648", 0x80000000}, parse_case{"99999", 99999},
                    parse_case{"-0", 0}));

struct bad_parse_case {
  const char* text;
  ir::code_parse_errc expected;
  friend std::ostream& operator<<(std::ostream& os, const bad_parse_case& c) {
    return os << '"' << c.text << '"';
  }
};

class ParseCodeRejects : public testing::TestWithParam<bad_parse_case> {};

TEST_P(ParseCodeRejects, WithTheRightReason) {
  const auto parsed = ir::parse_code(GetParam().text);
  ASSERT_FALSE(parsed) << GetParam().text;
  EXPECT_EQ(parsed.error(), ir::make_error_code(GetParam().expected)) << GetParam().text;
  EXPECT_FALSE(parsed.error().message().empty());
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, ParseCodeRejects,
    testing::Values(bad_parse_case{"", ir::code_parse_errc::empty},
                    bad_parse_case{"   ", ir::code_parse_errc::empty},
                    bad_parse_case{"ERROR_NO_SUCH_THING", ir::code_parse_errc::unknown_name},
                    bad_parse_case{"error_busy", ir::code_parse_errc::unknown_name},
                    bad_parse_case{"12x", ir::code_parse_errc::not_a_number},
                    bad_parse_case{"0x", ir::code_parse_errc::not_a_number},
                    bad_parse_case{"0xZZ", ir::code_parse_errc::not_a_number},
                    bad_parse_case{"-", ir::code_parse_errc::not_a_number},
                    bad_parse_case{"1.5", ir::code_parse_errc::not_a_number},
                    bad_parse_case{"ERROR-BUSY", ir::code_parse_errc::not_a_number},
                    bad_parse_case{"4294967296", ir::code_parse_errc::out_of_range},
                    bad_parse_case{"0x100000000", ir::code_parse_errc::out_of_range},
                    bad_parse_case{"-2147483649", ir::code_parse_errc::out_of_range},
                    bad_parse_case{"99999999999999999999999", ir::code_parse_errc::out_of_range}));

// Issue 12: win32_error and hresult print themselves, for logs.
TEST(ToString, CodesPrintTheirNameAndValue) {
  EXPECT_EQ(ir::to_string(ir::win32_error::ipsec_qm_policy_pending_deletion),
            "ERROR_IPSEC_QM_POLICY_PENDING_DELETION (13023)");
  EXPECT_EQ(ir::to_string(ir::win32_error{99999}), "99999");
  EXPECT_EQ(ir::to_string(ir::win32_error{0x80320012}), "FWP_E_TIMEOUT (0x80320012)");
  EXPECT_EQ(ir::to_string(ir::hresult{0x800732DF}),
            "0x800732DF (HRESULT_FROM_WIN32(ERROR_IPSEC_QM_POLICY_PENDING_DELETION (13023)))");
  EXPECT_EQ(ir::to_string(ir::hresult::fwp_e_timeout), "FWP_E_TIMEOUT (0x80320012)");
  EXPECT_EQ(ir::to_string(ir::hresult::s_ok), "S_OK (0x00000000)");
  EXPECT_EQ(ir::to_string(ir::hresult{0x80070000}), "0x80070000")
      << "a failure with code 0 is not HRESULT_FROM_WIN32(ERROR_SUCCESS)";
  EXPECT_EQ(ir::to_string(ir::hresult{1}), "0x00000001");
  std::ostringstream out;
  out << ir::win32_error::access_denied << " / " << ir::hresult{0x80320012};
  EXPECT_EQ(out.str(), "ERROR_ACCESS_DENIED (5) / FWP_E_TIMEOUT (0x80320012)");
}
