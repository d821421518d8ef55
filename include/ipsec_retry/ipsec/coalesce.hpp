// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: coalesced waits on one pending deletion.
//
// When many callers in one process retry against the same object (agent endpoint + object
// kind + name or GUID) while it is pending deletion, one of them (the leader) polls the agent
// with its own backoff; a caller that arrives while that wait is in progress joins it without
// calling the agent (a follower). As soon as the leader sees anything but *_PENDING_DELETION,
// it releases the followers, who then make their own call. Each follower stays bounded by its
// own deadline, cancellation and policy. When the leader gives up (deadline, cancellation,
// permanent error, an exception), the oldest follower is promoted to leader; with no follower
// left the wait ends. Nobody is left waiting on a leader that has gone.
//
// Opt in per call site by passing a registry to the typed operations:
//
//   ipsec_retry::ipsec::pending_deletion_waits waits;            // one per process (or agent)
//   auto r = ipsec_retry::ipsec::delete_qm_policy(agent, L"corp-qm", policy, {},
//                                                  {.waits = &waits, .endpoint = L"srv1"});
//
// Without a registry (the default) the operations run the plain retry loop: no extra cost.
// The registry allocates (a key and a node per wait); the coalesced path is not allocation-free.
#pragma once

#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <tuple>

namespace ipsec_retry::ipsec {

/// The object a wait is about: the agent endpoint (server name, "" = this machine), the kind
/// of object, and its name (a policy) or GUID (MM auth methods, a filter's id).
struct wait_key {
  std::wstring_view endpoint;
  object_kind object = object_kind::qm_policy;
  std::wstring_view name;
  guid id{};

  constexpr wait_key() = default;
  constexpr wait_key(std::wstring_view e, object_kind o, std::wstring_view n, guid g = {}) noexcept
      : endpoint(e), object(o), name(n), id(g) {}
  /// A QM or MM policy (0.1's key).
  constexpr wait_key(std::wstring_view e, policy_kind k, std::wstring_view n) noexcept
      : wait_key(e, k == policy_kind::quick_mode ? object_kind::qm_policy : object_kind::mm_policy,
                 n) {}
};

/// A thread-safe registry of the waits in progress, keyed by endpoint, object kind, name and GUID.
/// Share one between the call sites (and threads) that should coalesce; it must outlive the
/// operations using it.
class pending_deletion_waits {
  struct member;

 public:
  /// How a follower's wait ended.
  enum class wake : std::uint8_t {
    released,  ///< the leader saw the deletion end: make your own call now
    promoted,  ///< the leader gave up: you are the leader now, poll the agent yourself
  };

  /// One caller's part in a wait: empty, leader or follower. Move-only. Dropping a leader's
  /// ticket without release() hands the wait over to the oldest follower (or ends it);
  /// dropping a follower's ticket leaves the wait.
  class ticket {
   public:
    ticket() noexcept = default;
    ticket(ticket&& other) noexcept;
    ticket& operator=(ticket&& other) noexcept;
    ticket(const ticket&) = delete;
    ticket& operator=(const ticket&) = delete;
    ~ticket() { reset(); }

    /// Gives up this ticket's part (see above).
    void reset() noexcept;
    /// Whether this ticket leads a wait / follows one, as far as its holder has been told: a
    /// follower released or promoted still follows until wait() or poll() reports it.
    bool leads() const noexcept;
    bool follows() const noexcept;
    /// Requested when this follower is released or promoted (or by wake()): a driver waiting
    /// in real time passes it to its sleeper. An empty ticket's token is never requested.
    std::stop_token wake_token() const noexcept;
    /// Ends the current wait early (a driver forwarding its own stop request); no other effect.
    void wake() noexcept;
    explicit operator bool() const noexcept { return member_ != nullptr; }

   private:
    friend class pending_deletion_waits;
    ticket(pending_deletion_waits* owner, std::unique_ptr<member> m) noexcept;
    pending_deletion_waits* owner_ = nullptr;
    std::unique_ptr<member> member_;
  };

  pending_deletion_waits() = default;
  pending_deletion_waits(const pending_deletion_waits&) = delete;
  pending_deletion_waits& operator=(const pending_deletion_waits&) = delete;
  ~pending_deletion_waits() = default;

  /// Before a call: if a wait on `key` is in progress, joins it as a follower; otherwise
  /// returns an empty ticket (make the call yourself).
  ticket join(const wait_key& key);
  /// After a call returned *_PENDING_DELETION: leads a new wait on `key`, or follows the one
  /// another caller started in the meantime.
  ticket lead(const wait_key& key);
  /// Leader: the agent answered something other than *_PENDING_DELETION. Every follower is
  /// released, the wait ends and `leader` becomes empty. No effect on other tickets.
  void release(ticket& leader);

  /// Follower, non-blocking: released or promoted if that happened, else nullopt. On released
  /// the ticket becomes empty; on promoted it leads. Followers wait between polls through their
  /// own sleeper (the typed-operation engine, engine.hpp), so virtual time covers them.
  std::optional<wake> poll(ticket& follower);

  /// Inspection (for tests and reports).
  bool waiting(const wait_key& key) const;
  std::size_t followers(const wait_key& key) const;

 private:
  using key_type = std::tuple<std::wstring, object_kind, std::wstring, guid>;
  struct entry {
    member* leader = nullptr;
    std::list<member*> followers;  // oldest first: the first is promoted on hand-over
  };
  using map_type = std::map<key_type, entry, std::less<>>;
  enum class role : std::uint8_t { detached, leader, follower };
  struct member {
    role part = role::detached;
    bool promoted = false;  // a follower made leader, not yet told
    bool released = false;  // a follower released, not yet told
    map_type::iterator wait;
    std::stop_source woken;  // requested on release or promotion
  };

  static key_type make_key(const wait_key& key);
  std::optional<wake> take_wake(member& m);  // under mutex_
  void leave(member& m) noexcept;            // under mutex_
  void drop(member& m) noexcept;

  mutable std::mutex mutex_;
  map_type waits_;
};

/// Per-call-site opt-in for the typed operations.
struct coalescing {
  pending_deletion_waits* waits = nullptr;  ///< nullptr: off (the default; costs nothing)
  std::wstring_view endpoint{};             ///< the agent's server name ("" = this machine)
};

}  // namespace ipsec_retry::ipsec
