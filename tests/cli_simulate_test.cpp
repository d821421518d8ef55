// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate` (docs/cli.md): a policy against the simulated Policy Agent in
// virtual time, driven in-process through cli::run.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_runner.hpp"

namespace {

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

// docs/cli.md's example: exponential 10 ms x2, the deletion completes at 730 ms; the add
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
  EXPECT_TRUE(
      has(r.out,
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
  const auto r =
      run_cli({"simulate", "--policy", "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "13023 ERROR_IPSEC_QM_POLICY_PENDING_DELETION")) << r.out;
  EXPECT_TRUE(has(r.out, "outcome: succeeded after 8 calls in ")) << r.out;
  const auto del = run_cli({"simulate", "--operation", "delete", "--policy",
                            "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_TRUE(has(del.out, "outcome: succeeded (gone_after_pending) after 8 calls")) << del.out;
}

// docs/policies.md's schedule against a 10 s deletion: 12 calls, the last exactly at 5 s.
TEST(CliSimulate, DeadlineExceededExitsOne) {
  const auto r =
      run_cli({"simulate", "--json", "--policy",
               "timeout=5s, initial=10ms, max_delay=1s, jitter=none", "--completes-after", "10s"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"deadline_exceeded\",\"calls\":12,"
                        "\"elapsed_ns\":5000000000,\"last_code\":13023,",
                        0),
            0u)
      << r.out;
  EXPECT_TRUE(has(r.out, "\"completion\":null")) << r.out;
  EXPECT_EQ(starts(r.out),
            (std::vector<long long>{0, 10 * ms, 30 * ms, 70 * ms, 150 * ms, 310 * ms, 630 * ms,
                                    1270 * ms, 2270 * ms, 3270 * ms, 4270 * ms, 5000 * ms}));
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
                          "--completes-after", "730ms", "--inject", "2:1727", "--inject", "40:5"});
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

  const auto del =
      run_cli({"simulate", "--json", "--operation", "delete", "--policy",
               "initial=10ms, jitter=none", "--completes-after", "730ms", "--inject", "1:1726"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_TRUE(has(del.out, "\"completion\":\"gone_after_pending\"")) << del.out;
}

TEST(CliSimulate, DeleteTreatsNotFoundAfterPendingAsGone) {
  const auto r = run_cli({"simulate", "--json", "--operation", "delete", "--policy",
                          "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      r.out.rfind("{\"outcome\":\"succeeded\",\"calls\":8,\"elapsed_ns\":1270000000,"
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
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"succeeded\",\"calls\":8,\"elapsed_ns\":1310000000,", 0), 0u)
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
      {{"--policy", "", "--completes-after", "730ms", "--call-latency", "5"}, "--call-latency '5'"},
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
  const auto r =
      run_cli({"simulate", "--policy", "", "--completes-after", "730ms", "--inject", "3:NOPE"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "expected N:CODE")) << r.err;
  EXPECT_TRUE(has(r.err, "CODE: ")) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
}

// Finding (issue 11): the CLI must refuse out-of-range or repeated --inject values by name.
TEST(Simulate, InjectRepeatedCallIsRefused) {
  const auto r = run_cli({"simulate", "--policy", "", "--completes-after", "730ms", "--inject",
                          "3:170", "--inject", "2:5", "--inject", "3:5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err,
            "ipsec-retry simulate: bad --inject '3:5': call 3 is already injected (by '3:170')\n");
  // The same call twice is refused even with the same code.
  const auto same =
      run_cli({"simulate", "--policy", "", "--completes-after", "730ms", "--inject", "1:5", "1:5"});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_TRUE(has(same.err, "call 1 is already injected (by '1:5')")) << same.err;
}

TEST(Simulate, InjectOutOfRangeIsRefusedByName) {
  const std::pair<const char*, const char*> cases[] = {
      {"0:5", "bad --inject '0:5': call numbers start at 1"},
      {"18446744073709551616:5",
       "bad --inject '18446744073709551616:5': call number 18446744073709551616 does not fit in "
       "64 bits"},
      {"3:4294967296", "bad --inject '3:4294967296': expected N:CODE"},
      {"3:0", "bad --inject '3:0': CODE ERROR_SUCCESS (0) is not a fault"},
      {"3:ERROR_SUCCESS", "bad --inject '3:ERROR_SUCCESS': CODE ERROR_SUCCESS (0) is not a fault"},
  };
  for (const auto& [spec, says] : cases) {
    const auto r =
        run_cli({"simulate", "--policy", "", "--completes-after", "730ms", "--inject", spec});
    EXPECT_EQ(r.exit_code, 2) << spec;
    EXPECT_TRUE(r.out.empty()) << spec << ": " << r.out;
    EXPECT_TRUE(has(r.err, says)) << spec << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }
  // The largest call number is fine (it is never reached).
  const auto largest = run_cli({"simulate", "--policy", "", "--completes-after", "0ms", "--inject",
                                "18446744073709551615:5"});
  EXPECT_EQ(largest.exit_code, 0) << largest.err;
}

// `check` is the CLI face of the same rule (issue 11): a list cannot hold a success code.
TEST(CliCheck, NeverRetryErrorSuccessExitsTwo) {
  const auto r = run_cli({"check", "never_retry=ERROR_SUCCESS"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err,
            "ipsec-retry check: bad policy 'never_retry=ERROR_SUCCESS': column 13: never_retry "
            "cannot list ERROR_SUCCESS (0): a success code cannot be made a permanent failure\n");
}

// ---- --callers N: concurrent callers as a discrete-event simulation (issue 7) --------------

namespace {

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++n;
  }
  return n;
}

// The `callers` entries of a JSON report: {outcome, calls, elapsed_ns, ...} in order.
struct caller_entry {
  std::string outcome;
  long long calls;
  long long elapsed_ns;
};
std::vector<caller_entry> callers(const std::string& json) {
  std::vector<caller_entry> out;
  const std::string list = json.substr(json.find("\"callers\":["));
  const std::string key = "{\"outcome\":\"";
  for (std::size_t at = list.find(key); at != std::string::npos; at = list.find(key, at + 1)) {
    const std::size_t start = at + key.size();
    const std::string outcome = list.substr(start, list.find('"', start) - start);
    const std::size_t calls = list.find("\"calls\":", start) + 8;
    const std::size_t elapsed = list.find("\"elapsed_ns\":", start) + 13;
    out.push_back({outcome, std::stoll(list.substr(calls)), std::stoll(list.substr(elapsed))});
  }
  return out;
}

long long field(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  return std::stoll(json.substr(json.find(key) + key.size()));
}

}  // namespace

// Issue 7's acceptance: 20 callers, exponential 10 ms x2 without jitter, a deletion completing
// at 730 ms. Plain retrying: each caller calls at 0, 10, 30, ..., 1270 ms: 160 agent calls.
TEST(CliSimulateCallers, PlainRetryingCosts160Calls) {
  const auto r = run_cli({"simulate", "--json", "--callers", "20", "--operation", "delete",
                          "--policy", "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"succeeded\",\"agent_calls\":160,", 0), 0u) << r.out;
  const auto entries = callers(r.out);
  ASSERT_EQ(entries.size(), 20u);
  for (const auto& c : entries) {
    EXPECT_EQ(c.outcome, "succeeded");
    EXPECT_EQ(c.calls, 8);
    EXPECT_EQ(c.elapsed_ns, 1270 * ms);
  }
  EXPECT_EQ(count(r.out, "\"completion\":\"gone_after_pending\""), 20u);
  EXPECT_TRUE(has(r.out, "\"coalesce\":false,\"budget\":null")) << r.out;
}

// With --coalesce: the leader's 8 polls plus one call per follower once released (at most
// 8 + 20), and every caller done by 1270 ms.
TEST(CliSimulateCallers, CoalescingCutsTheLoadToTheLeadersPollsPlusOneCallEach) {
  const auto r =
      run_cli({"simulate", "--json", "--callers", "20", "--coalesce", "--operation", "delete",
               "--policy", "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LE(field(r.out, "agent_calls"), 8 + 20) << r.out;
  EXPECT_EQ(field(r.out, "agent_calls"), 27) << "caller 1 leads; 19 follow from time 0";
  EXPECT_EQ(field(r.out, "max_elapsed_ns"), 1270 * ms);
  const auto entries = callers(r.out);
  ASSERT_EQ(entries.size(), 20u);
  EXPECT_EQ(entries[0].calls, 8) << "the leader polls with its own backoff";
  for (std::size_t i = 1; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].outcome, "succeeded");
    EXPECT_EQ(entries[i].calls, 1) << "a follower calls once, when released";
    EXPECT_LE(entries[i].elapsed_ns, 1270 * ms);
  }
  EXPECT_EQ(count(r.out, "\"completion\":\"gone_after_pending\""), 20u)
      << "a released follower counts as having seen PENDING_DELETION";
}

// Issue 11, item 4: the budget charges only failures whose code says the agent is overloaded.
// A dead agent (RPC_S_SERVER_UNAVAILABLE on every call, scripted with --inject): 20 first calls
// (never refused) drain max_tokens=10, token_ratio=0.1; 4 retries get through while tokens > 5;
// nobody calls again. The output states the rule.
TEST(CliSimulateCallers, ABudgetStopsTheStormWithinTheFirstFewCalls) {
  std::vector<std::string> args{"simulate",          "--json",
                                "--callers",         "20",
                                "--budget",          "max_tokens=10, token_ratio=0.1",
                                "--operation",       "delete",
                                "--policy",          "initial=10ms, jitter=none",
                                "--completes-after", "10s"};
  for (int call = 1; call <= 60; ++call) {
    args.push_back("--inject");
    args.push_back(std::to_string(call) + ":1722");
  }
  const auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out.rfind("{\"outcome\":\"budget_exhausted\",\"agent_calls\":24,", 0), 0u) << r.out;
  EXPECT_TRUE(has(r.out, "\"budget\":\"max_tokens=10, token_ratio=0.1\"")) << r.out;
  EXPECT_TRUE(has(r.out, "\"budget_charges\":\"overload codes only\"")) << r.out;
  for (const auto& c : callers(r.out)) {
    EXPECT_EQ(c.outcome, "budget_exhausted");
    EXPECT_LE(c.calls, 2);
  }
  args.erase(args.begin() + 1);  // human output: one line states the rule
  const auto human = run_cli(args);
  EXPECT_TRUE(has(human.out,
                  "budget rule: a failure costs 1 token only if its code says the agent is "
                  "overloaded (RPC transport failures, ERROR_BUSY, ERROR_TIMEOUT, FWP_E_TIMEOUT); "
                  "PENDING_DELETION costs nothing; a success refills token_ratio\n"))
      << human.out;
}

// Issue 11, item 4: the same budget no longer fails the scenario it exists for. A pending
// deletion is the object's state, not the agent's load: one caller waits out 730 ms (8 calls,
// as without a budget; it used to stop with budget_exhausted after 5 calls at 150 ms), and so
// does every one of 20 callers. Dividing their polls is coalescing's job, not the budget's.
TEST(CliSimulateCallers, Budget_OneCallerWaitsOutA730msPendingDeletion) {
  const auto one = run_cli({"simulate", "--json", "--callers", "1", "--budget",
                            "max_tokens=10, token_ratio=0.1", "--operation", "delete", "--policy",
                            "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(one.exit_code, 0) << one.out;
  EXPECT_EQ(field(one.out, "agent_calls"), 8) << one.out;
  EXPECT_EQ(field(one.out, "max_elapsed_ns"), 1270 * ms) << one.out;
  const auto many = run_cli({"simulate", "--json", "--callers", "20", "--budget",
                             "max_tokens=10, token_ratio=0.1", "--operation", "delete", "--policy",
                             "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(many.exit_code, 0) << many.out;
  EXPECT_EQ(field(many.out, "agent_calls"), 160) << many.out;
}

// Coalescing and a budget together: the leader's polls see PENDING_DELETION, which costs no
// token, so max_tokens=10 no longer stops the leader (it used to, after 5 calls at 150 ms,
// handing the wait over to followers who were refused in turn: 24 calls, nobody succeeded).
// Now: the leader's 8 polls plus one call per released follower, everyone succeeding.
TEST(CliSimulateCallers, CoalescingAndBudgetTogether) {
  const auto r = run_cli({"simulate", "--json", "--callers", "20", "--coalesce", "--budget",
                          "max_tokens=10, token_ratio=0.1", "--operation", "delete", "--policy",
                          "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(field(r.out, "agent_calls"), 27) << r.out;
  EXPECT_EQ(field(r.out, "max_elapsed_ns"), 1270 * ms) << r.out;
  const auto entries = callers(r.out);
  ASSERT_EQ(entries.size(), 20u);
  EXPECT_EQ(entries[0].calls, 8);
  for (const auto& c : entries) EXPECT_EQ(c.outcome, "succeeded");
}

// With --operation add only one caller re-creates the policy; the others truthfully get
// EXISTS (permanent), so the run exits 1.
TEST(CliSimulateCallers, AddLetsOneCallerRecreateThePolicy) {
  const auto r = run_cli({"simulate", "--json", "--callers", "5", "--coalesce", "--policy",
                          "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto entries = callers(r.out);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[0].outcome, "succeeded");
  for (std::size_t i = 1; i < entries.size(); ++i) EXPECT_EQ(entries[i].outcome, "permanent_error");
  EXPECT_EQ(count(r.out, "\"last_code\":13000"), 4u) << r.out;
}

// One caller through the simulation makes the same calls as the single-caller path.
TEST(CliSimulateCallers, OneCallerMatchesTheSingleCallerRun) {
  const auto r =
      run_cli({"simulate", "--json", "--callers", "1", "--policy",
               "timeout=5s, initial=10ms, max_delay=1s, jitter=none", "--completes-after", "10s"});
  EXPECT_EQ(r.exit_code, 1);
  const auto entries = callers(r.out);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].outcome, "deadline_exceeded");
  EXPECT_EQ(entries[0].calls, 12);
  EXPECT_EQ(entries[0].elapsed_ns, 5000 * ms);
}

TEST(CliSimulateCallers, IsDeterministicAndPrintsATable) {
  const std::initializer_list<const char*> args{"simulate",
                                                "--callers",
                                                "3",
                                                "--coalesce",
                                                "--operation",
                                                "delete",
                                                "--policy",
                                                "initial=10ms, jitter=50%",
                                                "--seed",
                                                "7",
                                                "--completes-after",
                                                "730ms"};
  const auto a = run_cli(args);
  const auto b = run_cli(args);
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_TRUE(has(a.out, "3 callers starting at 0, coalesced waits")) << a.out;
  EXPECT_TRUE(has(a.out, " caller  outcome")) << a.out;
  EXPECT_TRUE(has(a.out, "succeeded (gone_after_pending)")) << a.out;
  EXPECT_TRUE(has(a.out, "agent calls: ")) << a.out;
}

TEST(CliSimulateCallers, BadInputsExit2NamingTheOption) {
  const struct {
    std::initializer_list<const char*> args;
    const char* names;
  } cases[] = {
      {{"--callers", "0"}, "--callers"},
      {{"--callers", "x"}, "--callers"},
      {{"--callers", "-3"}, "--callers"},
      {{"--coalesce"}, "--coalesce"},
      {{"--budget", "max_tokens=10"}, "--budget"},
      {{"--callers", "2", "--budget", "max_tokens=0"}, "--budget"},
      {{"--callers", "2", "--budget", "tokens=3"}, "--budget"},
  };
  for (const auto& c : cases) {
    std::vector<const char*> argv{"ipsec-retry",  "simulate",          "--policy",
                                  "initial=10ms", "--completes-after", "1s"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::ostringstream out, err;
    const int rc = ipsec_retry::cli::run(static_cast<int>(argv.size()), argv.data(), out, err);
    EXPECT_EQ(rc, 2) << c.names;
    EXPECT_TRUE(has(err.str(), c.names)) << err.str();
  }
}

// Followers are bounded by their own deadline: against a 10 s deletion with timeout=100ms the
// leader polls at 0, 10, 30, 70 and makes its final call at 100 ms, then hands over; each
// follower makes one final call of its own at its deadline (7 calls). With give_up the leader
// stops at 70 ms (the next delay would cross the deadline); the promoted follower polls at 70,
// 80 and 100 ms; the last follower, promoted at its deadline, makes its one call there.
TEST(CliSimulateCallers, FollowersAreBoundedByTheirOwnDeadline) {
  const auto final_call =
      run_cli({"simulate", "--json", "--callers", "3", "--coalesce", "--operation", "delete",
               "--policy", "timeout=100ms, initial=10ms, jitter=none", "--completes-after", "10s"});
  EXPECT_EQ(final_call.exit_code, 1);
  EXPECT_EQ(field(final_call.out, "agent_calls"), 7) << final_call.out;
  std::vector<long long> calls;
  for (const auto& c : callers(final_call.out)) {
    EXPECT_EQ(c.outcome, "deadline_exceeded");
    EXPECT_EQ(c.elapsed_ns, 100 * ms);
    calls.push_back(c.calls);
  }
  EXPECT_EQ(calls, (std::vector<long long>{5, 1, 1}));

  const auto give_up =
      run_cli({"simulate", "--json", "--callers", "3", "--coalesce", "--operation", "delete",
               "--policy", "timeout=100ms, initial=10ms, jitter=none, at_deadline=give_up",
               "--completes-after", "10s"});
  EXPECT_EQ(field(give_up.out, "agent_calls"), 8) << give_up.out;
  calls.clear();
  for (const auto& c : callers(give_up.out)) calls.push_back(c.calls);
  EXPECT_EQ(calls, (std::vector<long long>{4, 3, 1}));
}

// 20000 callers run in a fraction of a second: waking followers costs O(woken), not O(N)
// per event (O(N²) took minutes at the --callers maximum of 100000).
TEST(CliSimulateCallers, ScalesLinearlyInTheNumberOfCallers) {
  const auto r = run_cli({"simulate", "--json", "--callers", "20000", "--coalesce", "--budget",
                          "max_tokens=10", "--operation", "delete", "--policy",
                          "initial=10ms, jitter=none", "--completes-after", "730ms"});
  EXPECT_EQ(field(r.out, "agent_calls"), 20007) << r.out.substr(0, 200);
}
