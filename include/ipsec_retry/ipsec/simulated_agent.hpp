// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: a simulated IPsec Policy Agent, for tests and demos on any OS.
//
// Modelled behaviour (docs/simulator.md has the full rule table):
//   * QM/MM policies by name and MM auth methods by GUID: absent, active (optionally in use by
//     SAs) or pending deletion until a time read from the injected clock. While pending, every
//     call on that name fails with its *_PENDING_DELETION code (QM 13023, MM 13021, auth 13022);
//     once the time is reached the object is absent. Add of an existing one gets *_EXISTS.
//   * Reference counting: transport and tunnel filters reference a QM policy, MM filters an MM
//     policy and MM auth methods. Delete of a referenced object fails at once with its IN_USE
//     code (QM 13002, MM 13005, auth 13012). Delete of an unreferenced one in use by SAs starts
//     a pending deletion lasting deletion_time; otherwise it is removed at once.
//   * Filters are held through handles, each owned by one client. Delete through a handle
//     while other handles are open leaves the filter pending deletion (still referencing its
//     objects) until its last handle is closed, by Close, hold_until or disconnect (RPC
//     rundown). A handle that is not this client's open handle of that kind gets
//     ERROR_INVALID_HANDLE (6).
//   * Clients: the agent itself is the default client; connect() makes another one sharing the
//     same state.
//   * Scripted faults: inject(N, code) makes the agent's call N (1-based, counting every
//     operation of every client) return `code` without touching any state.
// Thread-safe: one mutex guards the state. Setup calls do not count as agent calls.
#pragma once

#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ipsec_retry::ipsec {

class simulated_agent final : public policy_agent {
 public:
  enum class state : std::uint8_t { absent, active, pending_deletion };

  /// One client of the simulated agent (one RPC binding): a policy_agent whose calls go to the
  /// agent's state and whose handles are its own. Owned by the agent; its address is stable.
  class client final : public policy_agent {
   public:
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    win32_error add_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
    win32_error set_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
    win32_error delete_policy(policy_kind kind, std::wstring_view name) override;
    win32_error get_policy(policy_kind kind, std::wstring_view name) override;
    win32_error add_mm_auth_methods(const guid& id, native_auth_methods methods) override;
    win32_error set_mm_auth_methods(const guid& id, native_auth_methods methods) override;
    win32_error delete_mm_auth_methods(const guid& id) override;
    win32_error add_filter(const native_filter& filter, agent_handle& handle) override;
    win32_error open_filter(const native_filter& filter, agent_handle& handle) override;
    win32_error set_filter(filter_kind kind, agent_handle handle,
                           const native_filter& filter) override;
    win32_error delete_filter(filter_kind kind, agent_handle handle) override;
    win32_error close_filter(filter_kind kind, agent_handle handle) override;

   private:
    friend class simulated_agent;
    client(simulated_agent& server, std::uint64_t id) : server_(&server), id_(id) {}
    simulated_agent* server_;
    std::uint64_t id_;
  };

  /// Reads time from `clock` (e.g. virtual_time::clock(), or steady_clock_source{}).
  template <clock_source Clock>
  explicit simulated_agent(Clock clock,
                           std::chrono::nanoseconds deletion_time = std::chrono::milliseconds{500})
      : now_([clock]() mutable { return clock.now(); }), deletion_time_(deletion_time) {}

  simulated_agent(const simulated_agent&) = delete;
  simulated_agent& operator=(const simulated_agent&) = delete;

  // Clients.
  /// The client the agent's own policy_agent calls go through.
  client& default_client() noexcept { return default_client_; }
  /// A new client sharing this agent's state. Lives as long as the agent.
  client& connect();
  /// RPC rundown of `c`'s binding: closes every handle `c` holds (a filter pending deletion
  /// whose last handle this was goes away). `c` stays usable, as if it had bound again; its
  /// old handles are invalid. Returns the number of handles closed. Not an agent call.
  std::size_t disconnect(client& c);

  // Scenario setup (not agent calls).
  /// Makes `name` an active policy (replacing any state it had; filters keep referencing it).
  void install(policy_kind kind, std::wstring_view name, bool in_use_by_sas = false);
  /// Puts `name` in pending deletion until `completes_at`.
  void begin_deletion(policy_kind kind, std::wstring_view name, time_point completes_at);
  /// Marks an active policy as used (or not) by SAs; no effect on other states.
  void set_in_use(policy_kind kind, std::wstring_view name, bool in_use_by_sas);
  /// How long a deletion of an in-use policy stays pending.
  void set_deletion_time(std::chrono::nanoseconds deletion_time);
  /// Makes MM auth methods `id` exist (optionally in use by SAs).
  void install_mm_auth_methods(const guid& id, bool in_use_by_sas = false);
  /// Makes `filter` (by kind and id) an active filter referencing its policy (and auth
  /// methods), replacing what it referenced; existing handles stay open. Does not check that
  /// the objects it references exist. The first form leaves no handle open (a filter someone
  /// added and closed); the second returns a new handle owned by `holder`.
  void install_filter(const native_filter& filter);
  agent_handle install_filter(client& holder, const native_filter& filter);
  /// `holder` closes `handle` at `closes_at` (a client that finishes its work then): settled at
  /// the start of the first agent call that reads a clock at or after `closes_at`, before the
  /// call itself. False (and no effect) if `handle` is not an open handle of `holder`'s.
  bool hold_until(client& holder, agent_handle handle, time_point closes_at);
  /// Agent call number `call` (1-based) returns `code` whatever the state.
  void inject(std::uint64_t call, win32_error code);

  // Inspection (not agent calls). The filter members first settle holds that are due, reading
  // the clock; the others never change state.
  state state_of(policy_kind kind, std::wstring_view name) const;
  /// The MM auth methods' state, by the same rules.
  state state_of(const guid& auth_methods) const;
  /// Absent, active, or pending deletion (deleted while other handles are open).
  state filter_state(filter_kind kind, const guid& id);
  /// Handles open on the filter, across all clients.
  std::size_t open_handles(filter_kind kind, const guid& id);
  /// Handles `c` holds, on any filter.
  std::size_t open_handles(const client& c);
  /// Whether a filter (active or pending deletion) references the policy / auth methods.
  bool referenced(policy_kind kind, std::wstring_view name);
  bool referenced(const guid& auth_methods);
  /// Agent calls received so far, from every client (setup calls excluded).
  std::uint64_t calls() const;

  // policy_agent: the default client's calls.
  win32_error add_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
  win32_error set_policy(policy_kind kind, std::wstring_view name, native_policy policy) override;
  win32_error delete_policy(policy_kind kind, std::wstring_view name) override;
  win32_error get_policy(policy_kind kind, std::wstring_view name) override;
  win32_error add_mm_auth_methods(const guid& id, native_auth_methods methods) override;
  win32_error set_mm_auth_methods(const guid& id, native_auth_methods methods) override;
  win32_error delete_mm_auth_methods(const guid& id) override;
  win32_error add_filter(const native_filter& filter, agent_handle& handle) override;
  win32_error open_filter(const native_filter& filter, agent_handle& handle) override;
  win32_error set_filter(filter_kind kind, agent_handle handle,
                         const native_filter& filter) override;
  win32_error delete_filter(filter_kind kind, agent_handle handle) override;
  win32_error close_filter(filter_kind kind, agent_handle handle) override;

 private:
  // Policies and auth methods: one table each, keyed by name (auth methods: auth_key(guid)).
  struct entry {
    state current = state::absent;
    bool in_use_by_sas = false;
    time_point pending_until{};
  };
  using table_type = std::map<std::wstring, entry, std::less<>>;
  enum class object : std::uint8_t { qm_policy, mm_policy, auth_methods };
  enum class operation : std::uint8_t { add, set, remove, get };

  struct filter_key {
    filter_kind kind;
    guid id;
    friend auto operator<=>(const filter_key&, const filter_key&) = default;
  };
  struct filter_entry {
    std::wstring policy;  // QM policy (transport, tunnel) or MM policy (MM filter)
    std::wstring auth;    // MM filter: auth_key of its auth methods
    bool pending_deletion = false;
    std::size_t handles = 0;
  };
  struct handle_entry {
    std::uint64_t client;
    filter_key filter;
  };

  // Counts the call and applies an injected fault (returned) or else reads the clock into
  // `now` and closes the held handles that are due. Caller holds mutex_.
  bool begin_call(win32_error& fault, time_point& now);
  void settle_holds(time_point now);
  // The entry for `key` in `t` as of `now` (an expired deletion is removed first), or null.
  static entry* find_live(table_type& t, std::wstring_view key, time_point now);
  // The state of `key` in `t` as of now (reads the clock, changes nothing). Caller holds mutex_.
  state state_in(const table_type& t, std::wstring_view key) const;
  win32_error object_call(object o, std::wstring_view key, operation op);
  bool is_referenced(object o, std::wstring_view key) const;
  // ERROR_SUCCESS if the object a filter is to reference is active, else its NOT_FOUND or
  // PENDING_DELETION code.
  win32_error require(object o, std::wstring_view key, time_point now);
  static policy_codes codes_of(object o) noexcept;
  table_type& table(object o);
  static object policy_object(policy_kind kind) noexcept {
    return kind == policy_kind::quick_mode ? object::qm_policy : object::mm_policy;
  }
  static std::wstring auth_key(const guid& id);

  // Filters and handles (simulated_filters.cpp).
  win32_error filter_add(std::uint64_t client, const native_filter& filter, agent_handle& handle);
  win32_error filter_open(std::uint64_t client, const native_filter& filter, agent_handle& handle);
  win32_error filter_set(std::uint64_t client, filter_kind kind, agent_handle handle);
  win32_error filter_release(std::uint64_t client, filter_kind kind, agent_handle handle,
                             bool delete_it);
  // The handle entry of `client`'s open handle of that kind, or handles_.end().
  std::map<std::uintptr_t, handle_entry>::iterator own_handle(std::uint64_t client,
                                                              filter_kind kind,
                                                              agent_handle handle);
  agent_handle new_handle(std::uint64_t client, const filter_key& key);
  void close_handle(std::map<std::uintptr_t, handle_entry>::iterator it);
  void put_filter(const native_filter& filter);

  std::function<time_point()> now_;
  mutable std::mutex mutex_;
  std::chrono::nanoseconds deletion_time_;
  table_type qm_;
  table_type mm_;
  table_type auth_;
  std::map<filter_key, filter_entry> filters_;
  std::map<std::uintptr_t, handle_entry> handles_;
  std::multimap<time_point, std::uintptr_t> holds_;  // when a handle's holder closes it
  std::uintptr_t last_handle_ = 0;                   // handle values are never reused
  std::map<std::uint64_t, win32_error> faults_;
  std::uint64_t calls_ = 0;
  client default_client_{*this, 0};
  std::vector<std::unique_ptr<client>> clients_;  // connect()ed ones, at stable addresses
};

}  // namespace ipsec_retry::ipsec
