// SPDX-License-Identifier: BSL-1.0
// What the ipsec/ layer tests share: the codes by number, the QM/MM kind table, the agent
// operations by tag, a virtual-time world with its agent, a start-recording agent, and the typed
// wrappers by kind with their success and failure checks.
#pragma once

#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <gtest/gtest.h>

#include "recording_agent.hpp"  // src/cli

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using namespace std::chrono_literals;
using ipsec::completion;
using ipsec::policy_kind;
using ipsec::policy_operation;
using ipsec::simulated_agent;
using std::chrono::nanoseconds;

namespace ipsec_test {

// Codes by number, so failures print numbers.
inline constexpr std::uint32_t success = 0;
inline constexpr std::uint32_t access_denied = 5;
inline constexpr std::uint32_t rpc_call_failed = 1726;
inline constexpr std::uint32_t qm_exists = 13000;
inline constexpr std::uint32_t qm_not_found = 13001;
inline constexpr std::uint32_t mm_exists = 13003;
inline constexpr std::uint32_t mm_not_found = 13004;
inline constexpr std::uint32_t mm_auth_not_found = 13011;
inline constexpr std::uint32_t mm_pending = 13021;
inline constexpr std::uint32_t mm_auth_pending = 13022;
inline constexpr std::uint32_t qm_pending = 13023;
inline constexpr std::uint32_t qm_pruned = 13025;

inline std::uint32_t u(ir::win32_error code) {
  return ir::to_underlying(code);
}

inline ir::retry_policy policy(std::string_view text) {
  auto p = ir::retry_policy::parse(text);
  EXPECT_TRUE(p) << text << ": " << (p ? "" : p.error().message());
  return p ? p.value() : ir::retry_policy{};
}

inline std::vector<nanoseconds> ms(std::initializer_list<long long> values) {
  std::vector<nanoseconds> out;
  for (long long v : values) out.push_back(std::chrono::milliseconds(v));
  return out;
}

// A kind of policy with the codes the agent must use for it.
struct kind_case {
  const char* label;
  policy_kind kind;
  std::uint32_t exists;
  std::uint32_t not_found;
  std::uint32_t pending;
};
inline constexpr kind_case kinds[] = {
    {"QM", policy_kind::quick_mode, qm_exists, qm_not_found, qm_pending},
    {"MM", policy_kind::main_mode, mm_exists, mm_not_found, mm_pending},
};

enum class agent_op { add, set, remove, get };
inline constexpr agent_op all_ops[] = {agent_op::add, agent_op::set, agent_op::remove,
                                       agent_op::get};

inline const char* label(agent_op op) {
  switch (op) {
    case agent_op::add:
      return "add";
    case agent_op::set:
      return "set";
    case agent_op::remove:
      return "delete";
    case agent_op::get:
      return "get";
  }
  return "?";
}

inline std::uint32_t call(simulated_agent& agent, agent_op op, policy_kind kind,
                          std::wstring_view name) {
  switch (op) {
    case agent_op::add:
      return u(agent.add_policy(kind, name, {}));
    case agent_op::set:
      return u(agent.set_policy(kind, name, {}));
    case agent_op::remove:
      return u(agent.delete_policy(kind, name));
    case agent_op::get:
      return u(agent.get_policy(kind, name));
  }
  return ~0u;
}

// Virtual time, an agent reading it, and retry options that sleep in it.
struct world {
  explicit world(nanoseconds deletion_time = 500ms) : agent(time.clock(), deletion_time) {}
  ir::virtual_time time;
  simulated_agent agent;
  auto options() { return ir::retry_options{.clock = time.clock(), .sleeper = time.sleeper()}; }
  ir::time_point at(nanoseconds since_start) const { return ir::time_point{} + since_start; }
};

// Records when (since t = 0) each call started: timed.starts().
using timed_agent = ipsec_retry::cli::recording_agent;

// The typed wrappers by kind, so one table covers QM and MM.
template <class Agent, class Options>
ir::retry_result<ipsec::operation_result> typed(policy_operation op, policy_kind kind, Agent& agent,
                                                std::wstring_view name, const ir::retry_policy& p,
                                                const Options& options,
                                                const ipsec::operation_options& rules = {}) {
  const bool qm = kind == policy_kind::quick_mode;
  switch (op) {
    case policy_operation::add:
      return qm ? ipsec::add_qm_policy(agent, name, {}, p, options, rules)
                : ipsec::add_mm_policy(agent, name, {}, p, options, rules);
    case policy_operation::set:
      return qm ? ipsec::set_qm_policy(agent, name, {}, p, options)
                : ipsec::set_mm_policy(agent, name, {}, p, options);
    case policy_operation::remove:
      return qm ? ipsec::delete_qm_policy(agent, name, p, options)
                : ipsec::delete_mm_policy(agent, name, p, options);
    default:  // open and close are filters' operations
      break;
  }
  return ir::retry_error{};
}

inline void expect_success(const ir::retry_result<ipsec::operation_result>& r, std::uint32_t code,
                           completion how, std::uint32_t calls) {
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(u(r.value().code), code);
  EXPECT_EQ(r.value().how, how) << ipsec::to_string(r.value().how);
  EXPECT_EQ(r.value().calls, calls);
}

inline void expect_failure(const ir::retry_result<ipsec::operation_result>& r, std::uint32_t code,
                           ir::stop_reason reason, std::uint32_t calls) {
  ASSERT_FALSE(r) << "succeeded with code " << u(r.value().code) << " ("
                  << ipsec::to_string(r.value().how) << ")";
  EXPECT_EQ(r.error().code.value(), static_cast<int>(code)) << r.error().message();
  EXPECT_EQ(r.error().code.category(), ir::win32_category());
  EXPECT_EQ(r.error().reason, reason) << r.error().message();
  EXPECT_EQ(r.error().calls, calls) << r.error().message();
}

inline constexpr const wchar_t* name = L"corp-policy";

inline std::string kind_label(const ::testing::TestParamInfo<kind_case>& param) {
  return param.param.label;
}

}  // namespace ipsec_test
