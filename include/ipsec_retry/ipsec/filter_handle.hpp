// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: an owned handle to a filter, closed when it goes out of scope.
//
// A filter's handle (an RPC context handle) is what keeps the filter: while any client holds
// one, a Delete through another handle leaves the filter pending deletion (docs/simulator.md).
// So a handle must be closed as soon as it is not needed. filter_handle closes it
// (Close*FilterHandle) in its destructor, unless a typed delete consumed it or release() gave
// it up. It is movable, not copyable, and allocates nothing: it holds the agent, the kind and
// the raw handle, and closes through a function pointer, so any agent type works.
//
//   auto added = ipsec_retry::ipsec::add_transport_filter(agent, filter);
//   if (!added) return report(added.error());
//   ipsec_retry::ipsec::filter_handle h = std::move(added).value();
//   ...                                  // set_transport_filter(agent, h, changed), ...
//   // ~filter_handle: CloseTransportFilterHandle
#pragma once

#include <ipsec_retry/ipsec/policy_agent.hpp>

#include <memory>
#include <utility>

namespace ipsec_retry::ipsec {

class filter_handle {
 public:
  filter_handle() noexcept = default;
  /// Owns `handle` to a filter of `kind`, received from `agent` (which must outlive it).
  template <class Agent>
  filter_handle(Agent& agent, filter_kind kind, agent_handle handle) noexcept
      : agent_(std::addressof(agent)),
        close_(&close_through<Agent>),
        kind_(kind),
        handle_(handle) {}

  filter_handle(filter_handle&& other) noexcept
      : agent_(other.agent_),
        close_(other.close_),
        kind_(other.kind_),
        handle_(std::exchange(other.handle_, agent_handle{})) {}
  filter_handle& operator=(filter_handle&& other) noexcept {
    if (this != &other) {
      try {
        (void)close();
      } catch (...) {  // as in the destructor
      }
      agent_ = other.agent_;
      close_ = other.close_;
      kind_ = other.kind_;
      handle_ = std::exchange(other.handle_, agent_handle{});
    }
    return *this;
  }
  filter_handle(const filter_handle&) = delete;
  filter_handle& operator=(const filter_handle&) = delete;
  ~filter_handle() {
    try {
      (void)close();
    } catch (...) {  // an agent that throws from Close*FilterHandle cannot throw from here
    }
  }

  /// Whether it holds a handle.
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }
  agent_handle get() const noexcept { return handle_; }
  filter_kind kind() const noexcept { return kind_; }

  /// Close*FilterHandle now: the agent's code (ERROR_SUCCESS when empty). Empty afterwards,
  /// whatever the code: a handle the agent refused to close is not retried by the destructor.
  /// An exception from the agent propagates (the handle is given up).
  win32_error close() {
    if (!handle_) return win32_error{};
    return close_(agent_, kind_, std::exchange(handle_, agent_handle{}));
  }
  /// Gives the handle up without closing it (after a delete consumed it, or to close it
  /// yourself).
  agent_handle release() noexcept { return std::exchange(handle_, agent_handle{}); }

 private:
  using close_function = win32_error (*)(void* agent, filter_kind, agent_handle);
  template <class Agent>
  static win32_error close_through(void* agent, filter_kind kind, agent_handle h) {
    return static_cast<Agent*>(agent)->close_filter(kind, h);
  }

  void* agent_ = nullptr;
  close_function close_ = nullptr;
  filter_kind kind_ = filter_kind::transport;
  agent_handle handle_{};
};

}  // namespace ipsec_retry::ipsec
