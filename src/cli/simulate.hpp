// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry simulate`: what its two halves share (simulate.cpp: one caller and the command;
// simulate_callers.cpp: `--callers N`).
#pragma once

#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/engine.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "commands.hpp"
#include "json.hpp"
#include "recording_agent.hpp"

namespace ipsec_retry::cli {

/// `simulate --callers N`: N concurrent callers of the typed operation in virtual time.
int run_callers(const simulate_args& args, const retry_policy& policy, ipsec::policy_operation op,
                ipsec::simulated_agent& agent, virtual_time& time, std::wstring_view name,
                nanoseconds completes_after, nanoseconds latency,
                const std::optional<retry_budget::settings>& budget_settings, std::ostream& out);

/// "bad OPTION 'TEXT': expected a duration: ..., e.g. EXAMPLE", for every duration option.
std::string bad_duration(std::string_view option, std::string_view text, std::string_view example);
/// The operation `--operation TEXT` names among `names` ({"add", add}, ...), or nullopt after
/// writing "ipsec-retry simulate: bad --operation 'TEXT'CONTEXT: expected A, B or C" on `err`.
template <class Op, std::size_t N>
std::optional<Op> operation_named(const std::string& text,
                                  const std::array<std::pair<std::string_view, Op>, N>& names,
                                  std::string_view context, std::ostream& err) {
  for (const auto& [word, op] : names) {
    if (text == word) return op;
  }
  err << "ipsec-retry simulate: bad --operation '" << text << "'" << context << ": expected ";
  for (std::size_t i = 0; i < N; ++i) {
    err << (i == 0 ? "" : i + 1 == N ? " or " : ", ") << names[i].first;
  }
  err << '\n';
  return std::nullopt;
}

/// A timeline as JSON (`"timeline":[{at_ns, code}...]`) and as the human table's rows, calls
/// numbered from first + 1.
void write_timeline(json_writer& json, std::span<const call_record> timeline);
void print_timeline(std::ostream& out, std::span<const call_record> timeline, std::size_t first);

/// Checks which scenario the options ask for. The filter stories (--object, --replace) run here
/// and give the exit code; bad combinations give exit_bad_input, the problem named on `err`;
/// nullopt: the pending-deletion scenario (--completes-after), which the caller runs.
std::optional<int> run_filter_story(const simulate_args& args, const retry_policy& policy,
                                    std::ostream& out, std::ostream& err);
/// `simulate --object KIND --held-for D`: add or open of a filter pending deletion until D.
int run_simulate_object(const simulate_args& args, const retry_policy& policy, nanoseconds held_for,
                        nanoseconds latency, std::ostream& out, std::ostream& err);
/// `simulate --replace [--held-for D]`: the replace composite on corp-qm and its filter.
int run_simulate_replace(const simulate_args& args, const retry_policy& policy,
                         std::optional<nanoseconds> held_for, nanoseconds latency,
                         std::ostream& out, std::ostream& err);

}  // namespace ipsec_retry::cli
