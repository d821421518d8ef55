// SPDX-License-Identifier: BSL-1.0
// A simulated agent that records its calls, for `ipsec-retry simulate` and the ipsec/ tests:
// when each call started (virtual time since the start) and what it returned. Header-only; it
// needs only the public library.
#pragma once

#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <chrono>
#include <string_view>
#include <vector>

namespace ipsec_retry::cli {

/// One call the agent answered: when it started and its code.
struct call_record {
  std::chrono::nanoseconds at;
  win32_error code;
};

/// Forwards to a policy_agent (a simulated_agent, or one of its clients), recording each call's
/// start time and code, and charging the call's latency to virtual time after the agent has
/// seen its state at the start (latency 0: calls take no time).
struct recording_agent {
  ipsec::policy_agent& agent;
  virtual_time& time;
  std::chrono::nanoseconds latency{};
  std::vector<call_record> timeline{};

  win32_error add_policy(ipsec::policy_kind k, std::wstring_view n, ipsec::native_policy p) {
    return record([&] { return agent.add_policy(k, n, p); });
  }
  win32_error set_policy(ipsec::policy_kind k, std::wstring_view n, ipsec::native_policy p) {
    return record([&] { return agent.set_policy(k, n, p); });
  }
  win32_error delete_policy(ipsec::policy_kind k, std::wstring_view n) {
    return record([&] { return agent.delete_policy(k, n); });
  }
  win32_error get_policy(ipsec::policy_kind k, std::wstring_view n) {
    return record([&] { return agent.get_policy(k, n); });
  }
  win32_error add_mm_auth_methods(const ipsec::guid& id, ipsec::native_auth_methods m) {
    return record([&] { return agent.add_mm_auth_methods(id, m); });
  }
  win32_error set_mm_auth_methods(const ipsec::guid& id, ipsec::native_auth_methods m) {
    return record([&] { return agent.set_mm_auth_methods(id, m); });
  }
  win32_error delete_mm_auth_methods(const ipsec::guid& id) {
    return record([&] { return agent.delete_mm_auth_methods(id); });
  }
  win32_error add_filter(const ipsec::native_filter& f, ipsec::agent_handle& h) {
    return record([&] { return agent.add_filter(f, h); });
  }
  win32_error open_filter(const ipsec::native_filter& f, ipsec::agent_handle& h) {
    return record([&] { return agent.open_filter(f, h); });
  }
  win32_error set_filter(ipsec::filter_kind k, ipsec::agent_handle h,
                         const ipsec::native_filter& f) {
    return record([&] { return agent.set_filter(k, h, f); });
  }
  win32_error delete_filter(ipsec::filter_kind k, ipsec::agent_handle h) {
    return record([&] { return agent.delete_filter(k, h); });
  }
  win32_error close_filter(ipsec::filter_kind k, ipsec::agent_handle h) {
    return record([&] { return agent.close_filter(k, h); });
  }

  /// When each call started, in order.
  std::vector<std::chrono::nanoseconds> starts() const {
    std::vector<std::chrono::nanoseconds> out;
    out.reserve(timeline.size());
    for (const call_record& r : timeline) out.push_back(r.at);
    return out;
  }

  /// Makes one call through `call` and records it.
  template <class Call>
  win32_error record(Call&& call) {
    const std::chrono::nanoseconds at = time.elapsed();
    const win32_error code = call();
    time.advance(latency);
    timeline.push_back({at, code});
    return code;
  }
};

}  // namespace ipsec_retry::cli
