// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate`: what its two halves share (simulate.cpp: one caller and the command;
// simulate_callers.cpp: `--callers N`).
#pragma once

#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/engine.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "commands.hpp"

namespace ipsec_retry::cli {

/// `simulate --callers N`: N concurrent callers of the typed operation in virtual time.
int run_callers(const simulate_args& args, const retry_policy& policy, ipsec::policy_operation op,
                ipsec::simulated_agent& agent, virtual_time& time, std::wstring_view name,
                nanoseconds completes_after, nanoseconds latency,
                const std::optional<retry_budget::settings>& budget_settings, std::ostream& out);

}  // namespace ipsec_retry::cli
