// `ipsec-retry simulate` (DESIGN section 4): a policy against the simulated Policy Agent in
// virtual time, driven in-process through cli::run.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"

namespace {

struct cli_output {
  int exit_code;
  std::string out;
  std::string err;
};

cli_output run_cli(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"ipsec-retry"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::ostringstream out, err;
  const int rc = ipsec_retry::cli::run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {rc, out.str(), err.str()};
}

constexpr long long ms = 1'000'000;  // ns

// The JSON timeline for calls at `at` (ns) returning `code`.
std::string timeline(std::initializer_list<std::pair<long long, std::uint32_t>> calls) {
  std::string text = "\"timeline\":[";
  bool first = true;
  for (const auto& [at, code] : calls) {
    if (!first) text += ',';
    text += "{\"at_ns\":" + std::to_string(at) + ",\"code\":" + std::to_string(code) + "}";
    first = false;
  }
  return text + "]";
}

// The at_ns values of a JSON timeline, in order.
std::vector<long long> starts(const std::string& json) {
  std::vector<long long> out;
  const std::string key = "\"at_ns\":";
  for (std::size_t at = json.find(key); at != std::string::npos; at = json.find(key, at + 1)) {
    out.push_back(std::stoll(json.substr(at + key.size())));
  }
  return out;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

constexpr std::uint32_t pending = 13023;  // ERROR_IPSEC_QM_POLICY_PENDING_DELETION
constexpr std::uint32_t not_found = 13001;

}  // namespace

// DESIGN section 4's example: exponential 10 ms x2, the deletion completes at 730 ms; the add
// succeeds on call 8 at 1270 ms.
TEST(CliSimulate, DesignExampleSucceedsOnCall8At1270ms) {
  const auto r = run_cli({"simulate", "--json", "--policy", "initial=10ms, jitter=none",
                          "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"succeeded\",\"calls\":8,\"elapsed_ns\":1270000000,"
                        "\"last_code\":0,",
                        0),
            0u)
      << r.out;
  EXPECT_TRUE(has(r.out, "\"completion\":\"done\"")) << r.out;
  EXPECT_TRUE(has(r.out, "\"operation\":\"add\"")) << r.out;
  EXPECT_TRUE(has(r.out,
                  "\"policy\":\"attempts=unlimited, timeout=30s, backoff=exponential, "
                  "initial=10ms, multiplier=2, max_delay=2s, jitter=none, at_deadline=final_call\""))
      << r.out;
  EXPECT_TRUE(has(r.out, timeline({{0, pending},
                                   {10 * ms, pending},
                                   {30 * ms, pending},
                                   {70 * ms, pending},
                                   {150 * ms, pending},
                                   {310 * ms, pending},
                                   {630 * ms, pending},
                                   {1270 * ms, 0}}) +
                             "}\n"))
      << r.out;
}

TEST(CliSimulate, HumanOutputNamesCodesAndOutcome) {
  const auto r = run_cli(
      {"simulate", "--policy", "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "13023 ERROR_IPSEC_QM_POLICY_PENDING_DELETION")) << r.out;
  EXPECT_TRUE(has(r.out, "outcome: succeeded after 8 calls in ")) << r.out;
  const auto del = run_cli({"simulate", "--operation", "delete", "--policy",
                            "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_TRUE(has(del.out, "outcome: succeeded (gone_after_pending) after 8 calls")) << del.out;
}

// DESIGN section 3's schedule against a 10 s deletion: 12 calls, the last exactly at 5 s.
TEST(CliSimulate, DeadlineExceededExitsOne) {
  const auto r = run_cli({"simulate", "--json", "--policy",
                          "timeout=5s, initial=10ms, max_delay=1s, jitter=none",
                          "--completes-after", "10s"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"deadline_exceeded\",\"calls\":12,"
                        "\"elapsed_ns\":5000000000,\"last_code\":13023,",
                        0),
            0u)
      << r.out;
  EXPECT_TRUE(has(r.out, "\"completion\":null")) << r.out;
  EXPECT_EQ(starts(r.out), (std::vector<long long>{0, 10 * ms, 30 * ms, 70 * ms, 150 * ms,
                                                   310 * ms, 630 * ms, 1270 * ms, 2270 * ms,
                                                   3270 * ms, 4270 * ms, 5000 * ms}));
}

TEST(CliSimulate, InjectedPermanentCodeStopsAtOnceExitsOne) {
  for (const char* spec : {"3:5", "3:ERROR_ACCESS_DENIED", "3:0x5", "3:0x80070005"}) {
    const auto r = run_cli({"simulate", "--json", "--policy", "initial=10ms, jitter=none",
                            "--completes-after", "730ms", "--inject", spec});
    EXPECT_EQ(r.exit_code, 1) << spec << r.err;
    EXPECT_EQ(r.out.rfind("{\"outcome\":\"permanent_error\",\"calls\":3,\"elapsed_ns\":30000000,"
                          "\"last_code\":5,\"last_code_name\":\"ERROR_ACCESS_DENIED\",",
                          0),
              0u)
        << spec << r.out;
    EXPECT_TRUE(has(r.out, timeline({{0, pending}, {10 * ms, pending}, {30 * ms, 5}}))) << r.out;
  }
}

TEST(CliSimulate, SeveralInjectionsAndOnesNeverReached) {
  // Call 2 gets a transient code (the call provably did not run), call 40 is never made.
  const auto r = run_cli({"simulate", "--json", "--policy", "initial=10ms, jitter=none",
                          "--completes-after", "730ms", "--inject", "2:1727", "--inject",
                          "40:5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "\"calls\":8,\"elapsed_ns\":1270000000")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"at_ns\":10000000,\"code\":1727}")) << r.out;
}

TEST(CliSimulate, OneInjectMayTakeSeveralValues) {
  const auto r = run_cli({"simulate", "--json", "--policy", "initial=10ms, jitter=none",
                          "--completes-after", "730ms", "--inject", "1:1727", "3:5"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(has(r.out, timeline({{0, 1727}, {10 * ms, pending}, {30 * ms, 5}}))) << r.out;
}

// Add is not idempotent: an ambiguous RPC failure stops it; set retries it.
TEST(CliSimulate, AmbiguousFailureStopsAddButNotSet) {
  const auto add = run_cli({"simulate", "--json", "--policy", "initial=10ms, jitter=none",
                            "--completes-after", "0ms", "--inject", "1:1726"});
  EXPECT_EQ(add.exit_code, 1) << add.err;
  EXPECT_EQ(add.out.rfind("{\"outcome\":\"permanent_error\",\"calls\":1,", 0), 0u) << add.out;
  EXPECT_TRUE(has(add.out, "\"last_code\":1726")) << add.out;

  const auto del = run_cli({"simulate", "--json", "--operation", "delete", "--policy",
                            "initial=10ms, jitter=none", "--completes-after", "730ms",
                            "--inject", "1:1726"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_TRUE(has(del.out, "\"completion\":\"gone_after_pending\"")) << del.out;
}

TEST(CliSimulate, DeleteTreatsNotFoundAfterPendingAsGone) {
  const auto r = run_cli({"simulate", "--json", "--operation", "delete", "--policy",
                          "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"succeeded\",\"calls\":8,\"elapsed_ns\":1270000000,"
                        "\"last_code\":13001,\"last_code_name\":\"ERROR_IPSEC_QM_POLICY_NOT_FOUND\","
                        "\"completion\":\"gone_after_pending\",\"operation\":\"delete\",",
                        0),
            0u)
      << r.out;
}

TEST(CliSimulate, DeleteOfAnAlreadyGonePolicyIsAFailure) {
  // The deletion completed before the first call: NOT_FOUND without a pending is no success.
  const auto r = run_cli({"simulate", "--json", "--operation", "delete", "--policy",
                          "initial=10ms, jitter=none", "--completes-after", "0ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"permanent_error\",\"calls\":1,\"elapsed_ns\":0,"
                        "\"last_code\":13001,",
                        0),
            0u)
      << r.out;
}

TEST(CliSimulate, SetAfterTheDeletionCompletesIsNotFoundExitsOne) {
  const auto r = run_cli({"simulate", "--json", "--operation", "set", "--policy",
                          "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"permanent_error\",\"calls\":8,\"elapsed_ns\":1270000000,"
                        "\"last_code\":13001,",
                        0),
            0u)
      << r.out;
  EXPECT_TRUE(has(r.out, "{\"at_ns\":1270000000,\"code\":13001}]")) << r.out;
  EXPECT_TRUE(has(r.out, "\"operation\":\"set\"")) << r.out;
}

// Call k+1 starts delay_k after call k ENDS: with 5 ms per call the starts are
// 0, 5+10, 20+20, 45+40, 90+80, 175+160, 340+320, 665+640 ms.
TEST(CliSimulate, CallLatencyDelaysFromTheEndOfEachCall) {
  const auto r = run_cli({"simulate", "--json", "--policy", "initial=10ms, jitter=none",
                          "--completes-after", "730ms", "--call-latency", "5ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, timeline({{0, pending},
                                   {15 * ms, pending},
                                   {40 * ms, pending},
                                   {85 * ms, pending},
                                   {170 * ms, pending},
                                   {335 * ms, pending},
                                   {660 * ms, pending},
                                   {1305 * ms, 0}})))
      << r.out;
  // Elapsed runs to the end of the last call.
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"succeeded\",\"calls\":8,\"elapsed_ns\":1310000000,", 0),
            0u)
      << r.out;
}

// A call that starts before the deadline may end after it; no call starts after it.
TEST(CliSimulate, CallLatencyAndTheDeadline) {
  const auto r = run_cli({"simulate", "--json", "--policy",
                          "timeout=100ms, backoff=constant, initial=10ms, jitter=none",
                          "--completes-after", "10s", "--call-latency", "30ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"deadline_exceeded\",\"calls\":3,"
                        "\"elapsed_ns\":110000000,",
                        0),
            0u)
      << r.out;
  EXPECT_EQ(starts(r.out), (std::vector<long long>{0, 40 * ms, 80 * ms}));
}

TEST(CliSimulate, SeedMakesJitterReproducible) {
  const auto a = run_cli({"simulate", "--json", "--seed", "7", "--policy", "initial=10ms",
                          "--completes-after", "730ms"});
  const auto b = run_cli({"simulate", "--json", "--seed", "7", "--policy", "initial=10ms",
                          "--completes-after", "730ms"});
  const auto other = run_cli({"simulate", "--json", "--seed", "8", "--policy", "initial=10ms",
                              "--completes-after", "730ms"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, other.out);
  EXPECT_TRUE(has(a.out, "jitter=20%")) << a.out;
  EXPECT_TRUE(has(a.out, "seed=7\"")) << a.out;
  // 20% proportional jitter: each gap within +-20% of 10 ms x 2^(k-1).
  const auto at = starts(a.out);
  ASSERT_GE(at.size(), 2u) << a.out;
  for (std::size_t k = 1; k < at.size(); ++k) {
    const long long nominal = 10 * ms << (k - 1);
    const long long gap = at[k] - at[k - 1];
    EXPECT_GE(gap, nominal * 8 / 10) << k;
    EXPECT_LE(gap, nominal * 12 / 10) << k;
  }
  // --seed overrides the policy's own seed.
  const auto overridden = run_cli({"simulate", "--json", "--seed", "7", "--policy",
                                   "initial=10ms, seed=1", "--completes-after", "730ms"});
  EXPECT_EQ(overridden.out, a.out);
}

struct bad_input_case {
  std::vector<const char*> args;  // after "simulate"
  const char* says;               // the error names the option and the value
};

TEST(CliSimulate, BadInputExitsTwoNamingTheProblem) {
  const bad_input_case cases[] = {
      {{"--policy", "", "--completes-after", "730"}, "--completes-after '730'"},
      {{"--policy", "", "--completes-after", "soon"}, "--completes-after 'soon'"},
      {{"--policy", "", "--completes-after", "730ms", "--operation", "remove"},
       "--operation 'remove'"},
      {{"--policy", "", "--completes-after", "730ms", "--call-latency", "5"},
       "--call-latency '5'"},
      {{"--policy", "", "--completes-after", "730ms", "--inject", "3"}, "--inject '3'"},
      {{"--policy", "", "--completes-after", "730ms", "--inject", "0:5"}, "--inject '0:5'"},
      {{"--policy", "", "--completes-after", "730ms", "--inject", "x:5"}, "--inject 'x:5'"},
      {{"--policy", "", "--completes-after", "730ms", "--inject", "3:NOPE"}, "--inject '3:NOPE'"},
      {{"--policy", "", "--completes-after", "730ms", "--inject", "3:"}, "--inject '3:'"},
      // N is a plain call number, not a code.
      {{"--policy", "", "--completes-after", "730ms", "--inject", "0x3:5"}, "--inject '0x3:5'"},
      {{"--policy", "", "--completes-after", "730ms", "--inject", "ERROR_ACCESS_DENIED:5"},
       "--inject 'ERROR_ACCESS_DENIED:5'"},
      {{"--policy", "", "--completes-after", "730ms", "--inject", "1:5", "--inject", "-1:5"},
       "--inject '-1:5'"},
      {{"--policy", "timeout=5", "--completes-after", "730ms"}, "bad policy 'timeout=5'"},
      {{"--policy", "backoff=fast", "--completes-after", "730ms"}, "bad policy 'backoff=fast'"},
      {{"--completes-after", "730ms"}, "--policy"},
      {{"--policy", "initial=10ms"}, "--completes-after"},
      {{"--policy", "", "--completes-after", "730ms", "--seed", "-1"}, "'-1'"},
  };
  for (const auto& c : cases) {
    std::vector<const char*> argv{"ipsec-retry", "simulate"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::ostringstream out, err;
    const int rc = ipsec_retry::cli::run(static_cast<int>(argv.size()), argv.data(), out, err);
    std::string line;
    for (const char* a : c.args) line += std::string(a) + ' ';
    EXPECT_EQ(rc, 2) << line;
    EXPECT_TRUE(out.str().empty()) << line << "-> " << out.str();
    EXPECT_TRUE(has(err.str(), c.says)) << line << "-> " << err.str();
  }
}

TEST(CliSimulate, InjectMessageExplainsTheBadCode) {
  const auto r = run_cli({"simulate", "--policy", "", "--completes-after", "730ms", "--inject",
                          "3:NOPE"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "expected N:CODE")) << r.err;
  EXPECT_TRUE(has(r.err, "CODE: ")) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
}
