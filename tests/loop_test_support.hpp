// SPDX-License-Identifier: BSL-1.0
// What the retry-loop tests share: the namespace alias, the code they retry most, and a policy
// from its string (a bad string fails the test that wrote it).
#pragma once

#include <ipsec_retry/retry.hpp>

#include <chrono>
#include <cstdint>

namespace ir = ipsec_retry;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace loop_test {

/// ERROR_IPSEC_QM_POLICY_PENDING_DELETION: transient by default.
inline constexpr std::uint32_t pending = 13023;

inline ir::retry_policy policy(const char* text) {
  return ir::retry_policy::parse(text).value();
}

}  // namespace loop_test
