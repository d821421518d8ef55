// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: the umbrella header. Includes the whole public API.
//
//   #include <ipsec_retry/ipsec_retry.hpp>
//   auto policy = ipsec_retry::retry_policy::parse("timeout=5s, initial=10ms").value();
//   auto r = ipsec_retry::retry(policy, [&] { return ::SetQMPolicy(srv, 0, name, &qm, 0); });
//   if (!r) report(r.error());   // last Windows code + why retrying stopped
#pragma once

#include <ipsec_retry/backoff.hpp>
#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/retry.hpp>
#include <ipsec_retry/retry_error.hpp>
#include <ipsec_retry/retry_options.hpp>
#include <ipsec_retry/retry_policy.hpp>
#include <ipsec_retry/version.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <ipsec_retry/ipsec/call_sites.hpp>
#include <ipsec_retry/ipsec/coalesce.hpp>
#include <ipsec_retry/ipsec/composites.hpp>
#include <ipsec_retry/ipsec/engine.hpp>
#include <ipsec_retry/ipsec/filter_handle.hpp>
#include <ipsec_retry/ipsec/operation_types.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#include <ipsec_retry/ipsec/windows_agent.hpp>  // Windows only; empty elsewhere
