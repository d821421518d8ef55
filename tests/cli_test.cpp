#include <gtest/gtest.h>

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"

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
              "\"verdict\":\"transient\",\"verdict_if_idempotent\":\"transient\"}\n")
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

TEST(CliSchedule, EveryCallFailsTransientlyEvenWhenThePolicyNeverRetries13023) {
  const auto r =
      run_cli({"schedule", "--json", "--policy", "attempts=3, jitter=none, never_retry=13023"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("\"calls\":3,\"stop\":\"attempts_exhausted\""), std::string::npos) << r.out;
}

TEST(CliSchedule, LongDurationsPrintReadably) {
  const auto r = run_cli({"schedule", "--policy",
                          "attempts=2, backoff=constant, initial=3000h, max_delay=3000h, "
                          "timeout=none, jitter=none"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("    1  0ms          10800000s\n"), std::string::npos) << r.out;
}
