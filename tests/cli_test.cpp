// SPDX-License-Identifier: BSL-1.0
#include <gtest/gtest.h>

#include <ipsec_retry/win32_error.hpp>

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <ostream>
#include <regex>
#include <sstream>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli_runner.hpp"
#include "hresult_names.hpp"
#include "json.hpp"

TEST(CliExplain, NamesMessageHresultAndVerdict) {
  const auto r = run_cli({"explain", "13023"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("13023 (0x32DF)  ERROR_IPSEC_QM_POLICY_PENDING_DELETION"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("The Quick Mode policy is pending deletion."), std::string::npos);
  EXPECT_NE(r.out.find("HRESULT:  0x800732DF"), std::string::npos);
  EXPECT_NE(r.out.find("transient"), std::string::npos);
  EXPECT_TRUE(r.err.empty());
}

TEST(CliExplain, AcceptsEverySpelling) {
  for (const char* spelling :
       {"13023", "0x32DF", "0x800732DF", "-2147011873", "ERROR_IPSEC_QM_POLICY_PENDING_DELETION"}) {
    const auto r = run_cli({"explain", "--json", spelling});
    EXPECT_EQ(r.exit_code, 0) << spelling << r.err;
    EXPECT_EQ(r.out,
              "{\"code\":13023,\"hresult\":\"0x800732DF\","
              "\"name\":\"ERROR_IPSEC_QM_POLICY_PENDING_DELETION\","
              "\"message\":\"The Quick Mode policy is pending deletion.\","
              "\"verdict\":\"transient\",\"verdict_if_idempotent\":\"transient\","
              "\"kind\":\"win32\",\"ntstatus\":null}\n")
        << spelling;
  }
}

TEST(CliExplain, FwpCodesHaveNoWin32Value) {
  const auto r = run_cli({"explain", "--json", "FWP_E_TIMEOUT"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("\"code\":null,\"hresult\":\"0x80320012\",\"name\":\"FWP_E_TIMEOUT\""),
            std::string::npos)
      << r.out;
}

TEST(CliExplain, SeveralCodesInJsonAreOneObject) {
  const auto r = run_cli({"explain", "--json", "5", "1726", "99999"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("{\"codes\":[{\"code\":5,", 0), 0u) << r.out;
  EXPECT_NE(
      r.out.find("\"name\":\"RPC_S_CALL_FAILED\",\"message\":\"The remote procedure call "
                 "failed.\",\"verdict\":\"permanent\",\"verdict_if_idempotent\":\"transient\""),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("{\"code\":99999,\"hresult\":\"0x8007869F\",\"name\":null,"
                       "\"message\":\"Unknown Windows error 0x1869F\",\"verdict\":\"permanent\""),
            std::string::npos)
      << r.out;
}

TEST(CliExplain, UnknownCodesSayTheyAreNeverRetried) {
  const auto r = run_cli({"explain", "99999"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("unknown codes are never retried"), std::string::npos) << r.out;
}

TEST(CliExplain, BadCodeExitsTwoNamingTheInput) {
  const auto r = run_cli({"explain", "13023", "ERROR_NOPE"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << "nothing is printed for a partly bad command line";
  EXPECT_NE(r.err.find("'ERROR_NOPE' (argument 2)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown code name"), std::string::npos) << r.err;
}

TEST(CliExplain, OutOfRangeNumberExitsTwo) {
  const auto r = run_cli({"explain", "4294967296"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("does not fit in 32 bits"), std::string::npos) << r.err;
}

TEST(Cli, MissingSubcommandOrCodeExitsTwo) {
  EXPECT_EQ(run_cli({}).exit_code, 2);
  EXPECT_EQ(run_cli({"explain"}).exit_code, 2);
  EXPECT_EQ(run_cli({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(run_cli({"explain", "--bogus", "5"}).exit_code, 2);
}

TEST(Cli, HelpAndVersionExitZero) {
  const auto help = run_cli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("explain"), std::string::npos) << help.out;
  const auto version = run_cli({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("ipsec-retry 0."), std::string::npos) << version.out;
}

TEST(CliCheck, PrintsTheNormalizedPolicy) {
  const auto r = run_cli({"check", "timeout=5000ms; jitter=none ,initial=10ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "attempts=unlimited, timeout=5s, backoff=exponential, initial=10ms, multiplier=2, "
            "max_delay=2s, jitter=none, at_deadline=final_call\n");
  const auto j = run_cli({"check", "--json", ""});
  EXPECT_EQ(j.exit_code, 0);
  EXPECT_EQ(j.out.rfind("{\"valid\":true,\"policy\":\"attempts=unlimited, timeout=30s", 0), 0u)
      << j.out;
}

TEST(CliCheck, BadPoliciesExitTwoNamingTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"atempts=3", "column 1: unknown key 'atempts' (did you mean 'attempts'?)"},
      {"timeout=5", "column 9: bad value '5' for 'timeout'"},
      {"timeout=none", "unbounded policy"},
      {"initial=5s, max_delay=1s", "initial (5s) exceeds max_delay (1s)"},
      {"jitter=150%", "N% with 0 < N <= 100"},
      {"retry_on=ERROR_NOPE", "bad code 'ERROR_NOPE'"},
      {"timeout=1s,,", "empty item"},
  };
  for (const auto& [policy, says] : cases) {
    const auto r = run_cli({"check", policy});
    EXPECT_EQ(r.exit_code, 2) << policy;
    EXPECT_TRUE(r.out.empty()) << policy;
    EXPECT_NE(r.err.find(says), std::string::npos) << policy << " -> " << r.err;
    EXPECT_NE(r.err.find(std::string("bad policy '") + policy + "'"), std::string::npos) << r.err;
  }
}

TEST(CliSchedule, DesignScheduleTwelveCallsLastAtFiveSeconds) {
  const auto r = run_cli(
      {"schedule", "--json", "--policy", "timeout=5s, initial=10ms, max_delay=1s, jitter=none"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"calls\":12,\"stop\":\"deadline_exceeded\",\"truncated\":false,"
                       "\"elapsed_ns\":5000000000,"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"delays_ns\":[10000000,20000000,40000000,80000000,160000000,320000000,"
                       "640000000,1000000000,1000000000,1000000000,730000000]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"random\":false"), std::string::npos);
}

TEST(CliSchedule, HumanTable) {
  const auto r =
      run_cli({"schedule", "--policy", "attempts=3, initial=10ms, jitter=none, backoff=linear"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("    1  0ms          10ms\n    2  10ms         20ms\n    3  30ms         -\n"
                       "stop: attempts_exhausted after 3 calls in 30ms\n"),
            std::string::npos)
      << r.out;
}

TEST(CliSchedule, SeedMakesJitterReproducibleAndIsReported) {
  const auto a = run_cli({"schedule", "--json", "--seed", "9", "--policy", "attempts=5"});
  const auto b = run_cli({"schedule", "--json", "--seed", "9", "--policy", "attempts=5"});
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out.find("seed=9"), std::string::npos);
  const auto random = run_cli({"schedule", "--policy", "attempts=5"});
  EXPECT_NE(random.out.find("random on each run"), std::string::npos) << random.out;
}

TEST(CliSchedule, HugeSchedulesAreTruncatedNotEndless) {
  const auto r = run_cli({"schedule", "--json", "--max-calls", "50", "--policy",
                          "initial=1ns, max_delay=1ns, timeout=1s, jitter=none"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("\"calls\":50,\"stop\":null,\"truncated\":true"), std::string::npos)
      << r.out;
}

TEST(CliSchedule, BadInputExitsTwo) {
  EXPECT_EQ(run_cli({"schedule", "--policy", "backoff=fast"}).exit_code, 2);
  EXPECT_EQ(run_cli({"schedule"}).exit_code, 2);
  EXPECT_EQ(run_cli({"schedule", "--policy", "", "--max-calls", "0"}).exit_code, 2);
  EXPECT_EQ(run_cli({"schedule", "--policy", "", "--seed", "-3"}).exit_code, 2);
  const auto huge = run_cli({"schedule", "--policy", "", "--seed", "99999999999999999999999"});
  EXPECT_EQ(huge.exit_code, 2) << "an out-of-range seed must not saturate silently";
  EXPECT_NE(huge.err.find("'99999999999999999999999' is not a whole number"), std::string::npos)
      << huge.err;
}

TEST(CliCheck, JsonReportsInvalidPoliciesToo) {
  const auto r = run_cli({"check", "--json", "timeout=5s, atempts=3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out,
            "{\"valid\":false,\"error\":\"column 13: unknown key 'atempts' (did you mean "
            "'attempts'?)\",\"column\":13,\"token\":\"atempts\"}\n");
}

TEST(CliSchedule, LongDurationsPrintReadably) {
  const auto r = run_cli({"schedule", "--policy",
                          "attempts=2, backoff=constant, initial=3000h, max_delay=3000h, "
                          "timeout=none, jitter=none"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("    1  0ms          10800000s\n"), std::string::npos) << r.out;
}

// ---- Issue 12, item 4: regression tests named after the findings they pin. ----

namespace {

// A sink that keeps nothing: it counts characters and lines, so a test can print millions of
// rows without holding them.
class counting_buf : public std::streambuf {
 public:
  std::uint64_t chars = 0;
  std::uint64_t lines = 0;
  std::uint64_t commas = 0;

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) count(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) count(s[i]);
    return n;
  }

 private:
  void count(char c) {
    ++chars;
    lines += c == '\n';
    commas += c == ',';
  }
};

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// The numbers of the JSON array `"key":[…]` in `json`.
std::vector<long long> json_array(const std::string& json, const std::string& key) {
  std::vector<long long> out;
  const auto at = json.find("\"" + key + "\":[");
  if (at == std::string::npos) return out;
  std::istringstream in(json.substr(at + key.size() + 4, json.find(']', at) - at - key.size() - 4));
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

}  // namespace

TEST(CliIssue12, Schedule_HonoursNeverRetry) {
  const auto j = run_cli({"schedule", "--json", "--policy", "never_retry=13023"});
  EXPECT_EQ(j.exit_code, 0) << j.err;
  EXPECT_TRUE(contains(j.out,
                       "\"code\":13023,\"code_name\":\"ERROR_IPSEC_QM_POLICY_PENDING_DELETION\","
                       "\"code_verdict\":\"permanent\",\"delays_ns\":[],\"call_starts_ns\":[0],"
                       "\"calls\":1,\"stop\":\"permanent_error\""))
      << j.out;
  const auto h = run_cli({"schedule", "--policy", "attempts=3, jitter=none, never_retry=13023"});
  EXPECT_TRUE(contains(h.out,
                       "code: 13023 ERROR_IPSEC_QM_POLICY_PENDING_DELETION, permanent under "
                       "this policy (never_retry)"))
      << h.out;
  EXPECT_TRUE(contains(h.out, "    1  0ms          -\nstop: permanent_error after 1 call in 0ms\n"))
      << h.out;
}

TEST(CliIssue12, Schedule_SaysWhichCodeItSimulatesAndHonoursRetryOn) {
  const auto d = run_cli({"schedule", "--policy", "attempts=2, jitter=none"});
  EXPECT_TRUE(contains(d.out,
                       "code: 13023 ERROR_IPSEC_QM_POLICY_PENDING_DELETION, transient under "
                       "this policy: every call fails with it\n"))
      << d.out;
  // ERROR_ACCESS_DENIED is permanent by default; retry_on makes it transient at this site.
  const auto denied = run_cli({"schedule", "--json", "--code", "5", "--policy", "attempts=3"});
  EXPECT_TRUE(contains(denied.out,
                       "\"code\":5,\"code_name\":\"ERROR_ACCESS_DENIED\","
                       "\"code_verdict\":\"permanent\""))
      << denied.out;
  EXPECT_TRUE(contains(denied.out, "\"calls\":1,\"stop\":\"permanent_error\"")) << denied.out;
  const auto retried = run_cli({"schedule", "--json", "--code", "ERROR_ACCESS_DENIED", "--policy",
                                "attempts=3, retry_on=5"});
  EXPECT_TRUE(contains(retried.out, "\"calls\":3,\"stop\":\"attempts_exhausted\"")) << retried.out;
  // A code the policy calls success ends the loop at once, and the output says so.
  const auto warning = run_cli({"schedule", "--code", "13025", "--policy", "attempts=3"});
  EXPECT_TRUE(contains(warning.out, "success under this policy")) << warning.out;
  EXPECT_TRUE(contains(warning.out, "stop: succeeded after 1 call in 0ms\n")) << warning.out;
  const auto bad = run_cli({"schedule", "--code", "ERROR_NOPE", "--policy", ""});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(bad.out.empty());
  EXPECT_EQ(bad.err.rfind("ipsec-retry schedule: bad --code 'ERROR_NOPE': unknown code name", 0),
            0u)
      << bad.err;
}

TEST(CliIssue12, Schedule_StreamsRowsInBoundedMemory) {
  // 10^6 calls 1 ns apart: every row goes to the sink as it is made; nothing is kept per call.
  counting_buf sink;
  std::ostream out(&sink);
  std::ostringstream err;
  ipsec_retry::cli::schedule_args args;
  args.policy = "initial=1ns, max_delay=1ns, jitter=none, timeout=1h";
  args.max_calls = 1'000'000;
  EXPECT_EQ(ipsec_retry::cli::run_schedule(args, out, err), 0) << err.str();
  // policy, code, the column heading, 10^6 rows, the "stopped printing" line.
  EXPECT_EQ(sink.lines, 1'000'004u);
  args.json = true;
  args.max_calls = 100'000;
  counting_buf json;
  std::ostream json_out(&json);
  EXPECT_EQ(ipsec_retry::cli::run_schedule(args, json_out, err), 0) << err.str();
  EXPECT_EQ(json.lines, 1u);
  // 8 commas in the policy and between the leading fields, 99'999 in each array, 5 after.
  EXPECT_EQ(json.commas, 8u + 4u + 2u * 99'999u + 5u);
}

TEST(CliIssue12, Schedule_JsonArraysAgreeWhenTheDelaysAreRandom) {
  // No seed: the JSON is written in two streamed passes, which must describe the same run.
  const auto r = run_cli({"schedule", "--json", "--policy", "attempts=6, initial=10ms"});
  EXPECT_TRUE(contains(r.out, "\"random\":true")) << r.out;
  EXPECT_FALSE(contains(r.out, "seed=")) << "the policy is printed as given";
  const auto delays = json_array(r.out, "delays_ns");
  const auto starts = json_array(r.out, "call_starts_ns");
  ASSERT_EQ(delays.size(), 5u) << r.out;
  ASSERT_EQ(starts.size(), 6u) << r.out;
  for (std::size_t i = 0; i < delays.size(); ++i) EXPECT_EQ(starts[i] + delays[i], starts[i + 1]);
}

TEST(CliIssue12, Explain_MinusZeroIsZero) {
  const auto r = run_cli({"explain", "--json", "-0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"code\":0,\"hresult\":\"0x00000000\",\"name\":\"ERROR_SUCCESS\"", 0), 0u)
      << r.out;
}

TEST(CliIssue12, Explain_KnowsTheCommonHresultsAndWin32Codes) {
  struct row {
    const char* input;
    const char* starts;  // the JSON object's first fields
    const char* verdict;
  };
  const row rows[] = {
      {"E_FAIL",
       R"({"code":null,"hresult":"0x80004005","name":"E_FAIL","message":"Unspecified error")",
       "permanent"},
      {"0x80004005", R"({"code":null,"hresult":"0x80004005","name":"E_FAIL")", "permanent"},
      {"E_NOTIMPL",
       R"({"code":null,"hresult":"0x80004001","name":"E_NOTIMPL","message":"Not implemented")",
       "permanent"},
      {"E_POINTER",
       R"({"code":null,"hresult":"0x80004003","name":"E_POINTER","message":"Invalid pointer")",
       "permanent"},
      {"E_ABORT",
       R"({"code":null,"hresult":"0x80004004","name":"E_ABORT","message":"Operation aborted")",
       "permanent"},
      {"E_UNEXPECTED",
       R"({"code":null,"hresult":"0x8000FFFF","name":"E_UNEXPECTED","message":"Catastrophic failure")",
       "permanent"},
      {"E_ACCESSDENIED",
       R"({"code":5,"hresult":"0x80070005","name":"E_ACCESSDENIED","message":"General access denied error")",
       "permanent"},
      {"E_HANDLE",
       R"({"code":6,"hresult":"0x80070006","name":"E_HANDLE","message":"Invalid handle")",
       "permanent"},
      {"E_OUTOFMEMORY",
       R"({"code":14,"hresult":"0x8007000E","name":"E_OUTOFMEMORY","message":"Ran out of memory")",
       "permanent"},
      {"E_INVALIDARG",
       R"({"code":87,"hresult":"0x80070057","name":"E_INVALIDARG","message":"One or more arguments are invalid")",
       "permanent"},
      {"S_OK", R"({"code":0,"hresult":"0x00000000","name":"S_OK")", "success"},
      {"S_FALSE", R"({"code":null,"hresult":"0x00000001","name":"S_FALSE")", "success"},
      {"1",
       R"({"code":1,"hresult":"0x80070001","name":"ERROR_INVALID_FUNCTION","message":"Incorrect function.")",
       "permanent"},
      {"6", R"({"code":6,"hresult":"0x80070006","name":"ERROR_INVALID_HANDLE")", "permanent"},
      {"122", R"({"code":122,"hresult":"0x8007007A","name":"ERROR_INSUFFICIENT_BUFFER")",
       "permanent"},
      {"183", R"({"code":183,"hresult":"0x800700B7","name":"ERROR_ALREADY_EXISTS")", "permanent"},
      {"234",
       R"({"code":234,"hresult":"0x800700EA","name":"ERROR_MORE_DATA","message":"More data is available.")",
       "permanent"},
      {"259", R"({"code":259,"hresult":"0x80070103","name":"ERROR_NO_MORE_ITEMS")", "permanent"},
      {"1062",
       R"({"code":1062,"hresult":"0x80070426","name":"ERROR_SERVICE_NOT_ACTIVE","message":"The service has not been started.")",
       "permanent"},
      {"1168", R"({"code":1168,"hresult":"0x80070490","name":"ERROR_NOT_FOUND")", "permanent"},
  };
  for (const row& r : rows) {
    const auto out = run_cli({"explain", "--json", r.input});
    EXPECT_EQ(out.exit_code, 0) << r.input << ": " << out.err;
    EXPECT_EQ(out.out.rfind(r.starts, 0), 0u) << r.input << " -> " << out.out;
    EXPECT_TRUE(contains(out.out, std::string("\"verdict\":\"") + r.verdict + '"')) << out.out;
  }
  const auto denied = run_cli({"explain", "E_ACCESSDENIED"});
  EXPECT_TRUE(contains(denied.out, "0x80070005  E_ACCESSDENIED\n")) << denied.out;
  EXPECT_TRUE(contains(denied.out, "E_ACCESSDENIED is HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED)"))
      << denied.out;
  const auto s_false = run_cli({"explain", "S_FALSE"});
  EXPECT_TRUE(contains(s_false.out, "the bare number 1 is ERROR_INVALID_FUNCTION")) << s_false.out;
}

TEST(CliIssue12, Explain_HresultNamesMatchWinerrorH) {
  std::ifstream in(IPSEC_RETRY_WINERROR_H);
  ASSERT_TRUE(in) << IPSEC_RETRY_WINERROR_H;
  const std::regex define(
      R"(^#define\s+([A-Z0-9_]+)\s+(?:_HRESULT_TYPEDEF_\(|\(\(HRESULT\))(0x[0-9A-Fa-f]+)L?\)?)");
  std::map<std::string, std::uint32_t> header;
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, define)) {
      header[m[1]] = static_cast<std::uint32_t>(std::stoul(m[2], nullptr, 16));
    }
  }
  for (const auto& h : ipsec_retry::cli::hresult_names) {
    const auto it = header.find(std::string(h.name));
    ASSERT_NE(it, header.end()) << h.name;
    EXPECT_EQ(it->second, h.bits) << h.name;
    // Each is here because the library's table, keyed by normalized value, cannot hold it.
    EXPECT_FALSE(ipsec_retry::find_code(h.name)) << h.name;
  }
}

TEST(CliIssue12, Explain_LabelsAnNtstatusAsOne) {
  const auto h = run_cli({"explain", "0xC0000022"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_EQ(h.out.rfind("0xC0000022  NTSTATUS", 0), 0u) << h.out;
  EXPECT_TRUE(contains(h.out, "HRESULT:  0xD0000022 (HRESULT_FROM_NT)")) << h.out;
  EXPECT_TRUE(contains(h.out, "verdict:  permanent")) << h.out;
  const auto j = run_cli({"explain", "--json", "0xC0000022"});
  EXPECT_TRUE(contains(j.out, "\"code\":null,\"hresult\":\"0xD0000022\"")) << j.out;
  EXPECT_TRUE(contains(j.out, "\"kind\":\"ntstatus\",\"ntstatus\":\"0xC0000022\"}")) << j.out;
  // Bit 30 clear: an HRESULT, not an NTSTATUS.
  const auto hr = run_cli({"explain", "--json", "0x80320012"});
  EXPECT_TRUE(contains(hr.out, "\"kind\":\"hresult\",\"ntstatus\":null}")) << hr.out;
}

TEST(CliIssue12, Errors_CarryTheCommandPrefix) {
  const std::pair<std::vector<std::string>, const char*> cases[] = {
      {{"schedule"}, "ipsec-retry schedule: --policy is required\n"},
      {{"explain"}, "ipsec-retry explain: CODE is required\n"},
      {{"check"}, "ipsec-retry check: POLICY is required\n"},
      {{"schedule", "--policy", "", "--max-calls", "0"}, "ipsec-retry schedule: --max-calls: "},
      {{"simulate", "--coalesce", "--policy", "", "--completes-after", "1s"},
       "ipsec-retry simulate: --coalesce requires --callers\n"},
      {{"explain", "--bogus", "5"}, "ipsec-retry explain: "},
      {{"frobnicate"}, "ipsec-retry: unknown command 'frobnicate'"},
      {{}, "ipsec-retry: "},
  };
  for (const auto& [args, starts] : cases) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << starts;
    EXPECT_TRUE(r.out.empty()) << starts;
    EXPECT_EQ(r.err.rfind(starts, 0), 0u) << r.err;
  }
}

TEST(CliIssue12, Help_ListsExactlyTheExitCodesEachCommandReturns) {
  for (const char* command : {"explain", "check", "schedule"}) {
    const auto r = run_cli({command, "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_TRUE(contains(r.out, "Exit status: 0 success, 2 bad input, 3 internal error.\n"))
        << command << ": " << r.out;
  }
  const auto simulate = run_cli({"simulate", "--help"});
  EXPECT_TRUE(contains(simulate.out,
                       "Exit status: 0 the simulated retry succeeded, 1 it ended in "
                       "failure, 2 bad input, 3 internal error."))
      << simulate.out;
  const auto top = run_cli({"--help"});
  EXPECT_TRUE(contains(top.out,
                       "1 simulate: the simulated retry ended in failure, 2 bad input, "
                       "3 internal error; run: the last run's own exit status."))
      << top.out;
}

TEST(CliIssue12, Json_StdoutIsEmptyOnErrorExceptCheckJson) {
  // check --json reports an invalid policy as {"valid":false,...} (and on stderr); every other
  // command leaves stdout empty on error, --json or not.
  EXPECT_TRUE(run_cli({"explain", "--json", "ERROR_NOPE"}).out.empty());
  EXPECT_TRUE(run_cli({"schedule", "--json", "--policy", "atempts=3"}).out.empty());
  EXPECT_TRUE(run_cli({"simulate", "--json", "--policy", "atempts=3", "--completes-after", "1s"})
                  .out.empty());
  const auto check = run_cli({"check", "--json", "atempts=3"});
  EXPECT_EQ(check.out.rfind("{\"valid\":false,", 0), 0u) << check.out;
  EXPECT_FALSE(check.err.empty());
}

// The writer every --json output goes through (src/cli/json.hpp): commas only between
// siblings, none after a key, at any nesting; strings escaped; null for an empty optional.
TEST(CliJson, WriterPutsCommasBetweenSiblingsAtEveryDepth) {
  std::ostringstream out;
  ipsec_retry::cli::json_writer json(out);
  json.begin_object().field("a", 1).key("list").begin_array();
  json.value(std::uint8_t{7}).begin_object().end_object().begin_array().end_array().value(true);
  json.begin_object().field("q", "say \"hi\"\n").field("none", std::optional<int>{}).end_object();
  json.end_array().field("big", std::uint64_t{18446744073709551615u}).field("neg", -3);
  json.field("maybe", std::optional<std::string>{"x"}).key("n").null().end_object();
  EXPECT_EQ(out.str(),
            "{\"a\":1,\"list\":[7,{},[],true,{\"q\":\"say \\\"hi\\\"\\n\",\"none\":null}],"
            "\"big\":18446744073709551615,\"neg\":-3,\"maybe\":\"x\",\"n\":null}");
}
