// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: a simulated IPsec Policy Agent, for tests and demos on any OS.
//
// Modelled behaviour (docs/simulator.md): each QM/MM policy is absent, active (optionally in use
// by SAs) or pending deletion until a time read from the injected clock.
//   * While pending deletion: Add, Set, Delete and Get of that name fail with its
//     *_PENDING_DELETION code (QM 13023, MM 13021).
//   * Once the deletion completes the policy is absent: Set and Delete get *_NOT_FOUND
//     (13001 / 13004), Add succeeds.
//   * Delete of an active policy in use by SAs starts a pending deletion lasting deletion_time
//     and returns ERROR_SUCCESS; one not in use is removed at once.
//   * Add of an existing policy gets *_EXISTS (13000 / 13003).
//   * MM auth methods (by GUID) can only be deleted: NOT_FOUND 13011, PENDING_DELETION 13022.
//   * Scripted faults: inject(N, code) makes the agent's call N (1-based, counting every
//     operation) return `code` without touching any state.
// Thread-safe: one mutex guards the state. Setup calls do not count as agent calls.
#pragma once

#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace ipsec_retry::ipsec {

class simulated_agent final : public policy_agent {
 public:
  enum class state : std::uint8_t { absent, active, pending_deletion };

  /// Reads time from `clock` (e.g. virtual_time::clock(), or steady_clock_source{}).
  template <clock_source Clock>
  explicit simulated_agent(Clock clock,
                           std::chrono::nanoseconds deletion_time = std::chrono::milliseconds{500})
      : now_([clock]() mutable { return clock.now(); }), deletion_time_(deletion_time) {}

  simulated_agent(const simulated_agent&) = delete;
  simulated_agent& operator=(const simulated_agent&) = delete;

  // Scenario setup.
  /// Makes `name` an active policy (replacing any state it had).
  void install(policy_kind kind, std::wstring_view name, bool in_use_by_sas = false);
  /// Puts `name` in pending deletion until `completes_at`.
  void begin_deletion(policy_kind kind, std::wstring_view name, time_point completes_at);
  /// Marks an active policy as used (or not) by SAs; no effect on other states.
  void set_in_use(policy_kind kind, std::wstring_view name, bool in_use_by_sas);
  /// How long a deletion of an in-use policy stays pending.
  void set_deletion_time(std::chrono::nanoseconds deletion_time);
  /// Makes MM auth methods `id` exist (optionally in use by SAs).
  void install_mm_auth_methods(const guid& id, bool in_use_by_sas = false);
  /// Agent call number `call` (1-based) returns `code` whatever the state.
  void inject(std::uint64_t call, win32_error code);

  // Inspection.
  state state_of(policy_kind kind, std::wstring_view name) const;
  /// Agent calls received so far (setup calls excluded).
  std::uint64_t calls() const;

  // policy_agent
  win32_error add_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
  win32_error set_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
  win32_error delete_policy(policy_kind kind, std::wstring_view name) override;
  win32_error get_policy(policy_kind kind, std::wstring_view name) override;
  win32_error delete_mm_auth_methods(const guid& id) override;

 private:
  struct entry {
    state current = state::absent;
    bool in_use_by_sas = false;
    time_point pending_until{};
  };
  enum class operation : std::uint8_t { add, set, remove, get };

  // Counts the call, applies an injected fault, settles an expired deletion, then applies `op`.
  win32_error call(std::map<std::wstring, entry, std::less<>>& table, std::wstring_view name,
                   policy_codes codes, operation op);
  std::map<std::wstring, entry, std::less<>>& table(policy_kind kind) {
    return kind == policy_kind::quick_mode ? qm_ : mm_;
  }
  static std::wstring auth_key(const guid& id);

  std::function<time_point()> now_;
  mutable std::mutex mutex_;
  std::chrono::nanoseconds deletion_time_;
  std::map<std::wstring, entry, std::less<>> qm_;
  std::map<std::wstring, entry, std::less<>> mm_;
  std::map<std::wstring, entry, std::less<>> auth_;
  std::map<std::uint64_t, win32_error> faults_;
  std::uint64_t calls_ = 0;
};

}  // namespace ipsec_retry::ipsec
