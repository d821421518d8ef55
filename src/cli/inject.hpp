// SPDX-License-Identifier: BSL-1.0
// `simulate --inject N:CODE`: scripted faults for the simulated agent. Internal to the CLI.
#pragma once

#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace ipsec_retry::cli {

/// Checks every `N:CODE` in `specs` and, only when all are valid, scripts them on `agent`
/// (call N returns CODE). N is a call number >= 1 that fits in 64 bits, CODE a code as for
/// `explain` other than ERROR_SUCCESS, and no call is injected twice. Otherwise writes one line
/// naming the offending value to `err` ("ipsec-retry simulate: bad --inject '0:5': ...") and
/// returns false, having injected nothing.
bool inject_faults(const std::vector<std::string>& specs, ipsec::simulated_agent& agent,
                   std::ostream& err, std::uint64_t setup_calls = 0);

}  // namespace ipsec_retry::cli
