// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate --object KIND --held-for D` and `simulate --replace` (docs/cli.md),
// driven in-process through cli::run, and their bad input (exit 2, the problem named).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST(CliSimulateObjects, ReAddWaitsForTheOtherClientsHandle) {
  const auto r = run_cli({"simulate", "--json", "--policy", "initial=10ms, jitter=none", "--object",
                          "transport-filter", "--held-for", "45ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // EXISTS (13008) at 0, 10 and 30 ms; the other handle closes at 45; the add at 70 ms succeeds.
  EXPECT_TRUE(has(r.out, "\"outcome\":\"succeeded\",\"calls\":4,\"elapsed_ns\":70000000,"))
      << r.out;
  EXPECT_TRUE(has(r.out, "{\"at_ns\":30000000,\"code\":13008},{\"at_ns\":70000000,\"code\":0}"))
      << r.out;
}

TEST(CliSimulateObjects, OpenFindsThePendingFilterThenNotFound) {
  const auto r = run_cli({"simulate", "--policy", "initial=10ms, jitter=none", "--object",
                          "tunnel-filter", "--held-for", "25ms", "--operation", "open"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(has(r.out, "13020 ERROR_IPSEC_TUNNEL_FILTER_PENDING_DELETION")) << r.out;
  EXPECT_TRUE(has(r.out, "outcome: permanent_error after 3 calls in 30ms")) << r.out;
}

TEST(CliSimulateObjects, InjectCountsFromTheRetriedOperation) {
  const auto r = run_cli({"simulate", "--json", "--policy", "initial=10ms, jitter=none", "--object",
                          "mm-filter", "--held-for", "0ms", "--inject", "1:5"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(has(r.out, "\"outcome\":\"permanent_error\",\"calls\":1,")) << r.out;
}

TEST(CliSimulateObjects, ReplaceHeldFor10sUnderA5sTimeoutSaysWhatIsLeft) {
  const auto r =
      run_cli({"simulate", "--json", "--policy", "timeout=5s", "--replace", "--held-for", "10s"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(has(r.out, "\"outcome\":\"deadline_exceeded\"")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"name\":\"delete qm-policy\",\"outcome\":\"deadline_exceeded\""))
      << r.out;
  EXPECT_TRUE(has(r.out, "{\"name\":\"add qm-policy\",\"outcome\":\"not_run\",\"calls\":0,"))
      << r.out;
  EXPECT_TRUE(
      has(r.out, "\"left\":\"the filters are removed and the old policy is still present\"}"))
      << r.out;
}

TEST(CliSimulateObjects, ReplaceWithoutAnotherClientTakesFourCalls) {
  const auto r = run_cli({"simulate", "--policy", "", "--replace"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "outcome: succeeded after 4 agent calls in 0ms")) << r.out;
  EXPECT_FALSE(has(r.out, "left:")) << r.out;
}

TEST(CliSimulateObjects, ReplaceJsonWithoutHolderOrFailureHasNulls) {
  const auto r = run_cli({"simulate", "--json", "--policy", "", "--replace"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "\"held_for_ns\":null,")) << r.out;
  EXPECT_TRUE(has(r.out, "\"left\":null}")) << r.out;
}

TEST(CliSimulateObjects, MmFilterScenarioReadsAnMmFilter) {
  const auto r = run_cli({"simulate", "--policy", "jitter=none", "--object", "mm-filter",
                          "--held-for", "0ms", "--operation", "open"});
  EXPECT_TRUE(has(r.out, "open of an MM filter deleted at 0 while")) << r.out;
}

TEST(CliSimulateObjects, BadInputExits2AndNamesTheProblem) {
  struct row {
    std::vector<std::string> args;
    const char* says;
  };
  const row rows[] = {
      {{"--object", "qm-filter", "--held-for", "1s"}, "bad --object 'qm-filter': expected"},
      {{"--object", "mm-filter"}, "--object needs --held-for DURATION"},
      {{"--object", "mm-filter", "--held-for", "soon"}, "bad --held-for 'soon'"},
      {{"--object", "mm-filter", "--held-for", "1s", "--operation", "delete"},
       "bad --operation 'delete' with --object: expected add or open"},
      {{"--replace", "--operation", "add"}, "--operation does not go with --replace"},
      {{"--replace", "--callers", "2"}, "--callers, --coalesce and --budget go with"},
      {{"--replace", "--completes-after", "1s"}, "are different scenarios: give one"},
      {{"--completes-after", "1s", "--held-for", "1s"}, "--held-for needs --object or --replace"},
      {{}, "no scenario: give --completes-after"},
  };
  for (const row& c : rows) {
    std::vector<std::string> args{"simulate", "--policy", ""};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << c.says;
    EXPECT_TRUE(has(r.err, std::string("ipsec-retry simulate: ") + c.says) || has(r.err, c.says))
        << r.err;
    EXPECT_EQ(r.out, "") << c.says;
  }
}
