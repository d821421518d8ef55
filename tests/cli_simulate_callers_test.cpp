// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate --callers N --coalesce` (docs/cli.md), driven in-process through
// cli::run: how the discrete-event driver (src/cli/simulate_callers.cpp) wakes followers.
// cli_simulate_test.cpp holds the rest of simulate's tests.
#include <gtest/gtest.h>

#include <string>

#include "cli_runner.hpp"

namespace {

// One `callers` entry of the JSON report, as simulate writes it.
std::string exhausted(int calls, long long elapsed_ms) {
  return "{\"outcome\":\"attempts_exhausted\",\"calls\":" + std::to_string(calls) +
         ",\"elapsed_ns\":" + std::to_string(elapsed_ms * 1'000'000) +
         ",\"completion\":null,\"last_code\":13023}";
}

}  // namespace

// Regression: the driver woke followers by scanning a queue of wait slices, in the order the
// slices began, and stopped at the first follower not woken. The registry promotes the follower
// that joined first, which after a few slices need not be first in that queue, so a promoted
// follower went on waiting until some later scan passed it: a hand-over late by up to a slice.
//
// Exponential 10 ms x2, no jitter, attempts=4, calls take no time, agent call 2 returns
// RPC_S_CALL_FAILED 1726. Caller 1 leads at 0 ms; its 1726 at 10 ms releases callers 2 and 3,
// who call at 10 ms: caller 2 leads a new wait, caller 3 joins it (at 10 ms), and caller 1,
// sleeping after its 1726, joins at 30 ms. Caller 2 polls at 20 and 40 and stops at 80 ms (4
// calls) and hands over to caller 3, whose slice would end at 150 ms while caller 1's ends at
// 100 ms. Promoted at once, caller 3 calls at 80, 100 and 140 ms, then hands over to caller 1,
// who calls at 140 and 180 ms. (With the bug: caller 3 woke at 100 ms, stopped at 160 ms,
// caller 1 at 200 ms.)
TEST(CliSimulateCallers, APromotedFollowerCallsWhenItsLeaderStopsNotAtItsNextSlice) {
  const auto r = run_cli({"simulate", "--json", "--callers", "3", "--coalesce", "--operation",
                          "delete", "--policy", "attempts=4, initial=10ms, jitter=none",
                          "--completes-after", "10s", "--inject", "2:1726"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("\"agent_calls\":12,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"callers\":[" + exhausted(4, 180) + "," + exhausted(4, 80) + "," +
                       exhausted(4, 140) + "]}\n"),
            std::string::npos)
      << r.out;
}
