// SPDX-License-Identifier: BSL-1.0
// simulated_agent: transport, tunnel and MM filters, the handles that hold them, clients and
// their rundown (docs/simulator.md, "Filters and handles").
//
// A filter is keyed by kind and id. It references its policy (and, for MM, its auth methods)
// by key from the moment it is added until it is removed, pending deletion included. Handles
// are numbered once (never reused), so a closed or run-down handle can never match again.
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <iterator>

namespace ipsec_retry::ipsec {

namespace {

// The filter's EXISTS, NOT_FOUND and PENDING_DELETION codes (win32_error.hpp: codes_for).
constexpr object_codes filter_codes_of(filter_kind k) noexcept {
  switch (k) {
    case filter_kind::transport:
      return codes_for(object_kind::transport_filter);
    case filter_kind::tunnel:
      return codes_for(object_kind::tunnel_filter);
    case filter_kind::main_mode:
      return codes_for(object_kind::mm_filter);
  }
  return codes_for(object_kind::transport_filter);
}

constexpr win32_error invalid_handle = win32_error::invalid_handle;  // 6

}  // namespace

// ---------------------------------------------------------------------------------------------
// Clients.

simulated_agent::client& simulated_agent::connect() {
  std::lock_guard<std::mutex> lock(mutex_);
  clients_.push_back(std::unique_ptr<client>(new client(*this, clients_.size() + 1)));
  return *clients_.back();
}

std::size_t simulated_agent::disconnect(client& c) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (c.server_ != this) return 0;
  std::size_t closed = 0;
  for (auto it = handles_.begin(); it != handles_.end();) {
    const auto next = std::next(it);
    if (it->second.client == c.id_) {
      close_handle(it);
      ++closed;
    }
    it = next;
  }
  return closed;
}

// ---------------------------------------------------------------------------------------------
// Setup and inspection.

void simulated_agent::put_filter(const native_filter& filter) {
  filter_entry& f = filters_[filter_key{filter.kind, filter.id}];
  f.policy = std::wstring(filter.policy);
  f.auth = filter.kind == filter_kind::main_mode ? auth_key(filter.auth_methods) : std::wstring();
  f.pending_deletion = false;
}

void simulated_agent::install_filter(const native_filter& filter) {
  std::lock_guard<std::mutex> lock(mutex_);
  put_filter(filter);
}

agent_handle simulated_agent::install_filter(client& holder, const native_filter& filter) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (holder.server_ != this) return {};
  put_filter(filter);
  return new_handle(holder.id_, filter_key{filter.kind, filter.id});
}

bool simulated_agent::hold_until(client& holder, agent_handle handle, time_point closes_at) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (holder.server_ != this) return false;
  const auto it = handles_.find(handle.value);
  if (it == handles_.end() || it->second.client != holder.id_) return false;
  holds_.emplace(closes_at, handle.value);
  return true;
}

simulated_agent::state simulated_agent::filter_state(filter_kind kind, const guid& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  settle_holds(now_());
  const auto it = filters_.find(filter_key{kind, id});
  if (it == filters_.end()) return state::absent;
  return it->second.pending_deletion ? state::pending_deletion : state::active;
}

std::size_t simulated_agent::open_handles(filter_kind kind, const guid& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  settle_holds(now_());
  const auto it = filters_.find(filter_key{kind, id});
  return it == filters_.end() ? 0 : it->second.handles;
}

std::size_t simulated_agent::open_handles(const client& c) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (c.server_ != this) return 0;
  settle_holds(now_());
  std::size_t n = 0;
  for (const auto& [value, h] : handles_) n += h.client == c.id_ ? 1 : 0;
  return n;
}

bool simulated_agent::referenced(policy_kind kind, std::wstring_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  settle_holds(now_());
  return is_referenced(policy_object(kind), name);
}

bool simulated_agent::referenced(const guid& auth_methods) {
  const std::wstring key = auth_key(auth_methods);
  std::lock_guard<std::mutex> lock(mutex_);
  settle_holds(now_());
  return is_referenced(object::auth_methods, key);
}

// ---------------------------------------------------------------------------------------------
// The rules.

bool simulated_agent::is_referenced(object o, std::wstring_view key) const {
  for (const auto& [k, f] : filters_) {
    const bool mm = k.kind == filter_kind::main_mode;
    switch (o) {
      case object::qm_policy:
        if (!mm && f.policy == key) return true;
        break;
      case object::mm_policy:
        if (mm && f.policy == key) return true;
        break;
      case object::auth_methods:
        if (mm && f.auth == key) return true;
        break;
    }
  }
  return false;
}

win32_error simulated_agent::require(object o, std::wstring_view key, time_point now) {
  const entry* e = find_live(table(o), key, now);
  if (e == nullptr) return codes_of(o).not_found;
  if (e->current == state::pending_deletion) return codes_of(o).pending_deletion;
  return win32_error::success;
}

void simulated_agent::settle_holds(time_point now) {
  while (!holds_.empty() && holds_.begin()->first <= now) {
    const std::uintptr_t value = holds_.begin()->second;
    holds_.erase(holds_.begin());
    // Already closed, deleted through or run down: nothing left to close.
    if (const auto it = handles_.find(value); it != handles_.end()) close_handle(it);
  }
}

agent_handle simulated_agent::new_handle(std::uint64_t client_id, const filter_key& key) {
  handles_.emplace(++last_handle_, handle_entry{client_id, key});
  ++filters_[key].handles;
  return agent_handle{last_handle_};
}

void simulated_agent::close_handle(std::map<std::uintptr_t, handle_entry>::iterator it) {
  const auto f = filters_.find(it->second.filter);
  handles_.erase(it);
  if (f == filters_.end()) return;
  --f->second.handles;
  // A filter pending deletion lives only as long as a handle to it: its last one removes it
  // and with it its references. An active filter stays with no handle open.
  if (f->second.pending_deletion && f->second.handles == 0) filters_.erase(f);
}

std::map<std::uintptr_t, simulated_agent::handle_entry>::iterator simulated_agent::own_handle(
    std::uint64_t client_id, filter_kind kind, agent_handle handle) {
  const auto it = handles_.find(handle.value);
  if (it == handles_.end() || it->second.client != client_id || it->second.filter.kind != kind) {
    return handles_.end();
  }
  return it;
}

win32_error simulated_agent::filter_add(std::uint64_t client_id, const native_filter& filter,
                                        agent_handle& handle) {
  const std::wstring auth =
      filter.kind == filter_kind::main_mode ? auth_key(filter.auth_methods) : std::wstring();
  std::lock_guard<std::mutex> lock(mutex_);
  win32_error fault{};
  time_point now{};
  if (!begin_call(fault, now)) return fault;

  const filter_key key{filter.kind, filter.id};
  // The same id, active or pending deletion behind someone's handle: it exists.
  if (filters_.contains(key)) return filter_codes_of(filter.kind).exists;
  const bool mm = filter.kind == filter_kind::main_mode;
  if (const win32_error code =
          require(mm ? object::mm_policy : object::qm_policy, filter.policy, now);
      code != win32_error::success) {
    return code;
  }
  if (mm) {
    if (const win32_error code = require(object::auth_methods, auth, now);
        code != win32_error::success) {
      return code;
    }
  }
  filters_.emplace(key, filter_entry{std::wstring(filter.policy), auth, false, 0});
  handle = new_handle(client_id, key);
  return win32_error::success;
}

win32_error simulated_agent::filter_open(std::uint64_t client_id, const native_filter& filter,
                                         agent_handle& handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  win32_error fault{};
  time_point now{};
  if (!begin_call(fault, now)) return fault;

  const filter_key key{filter.kind, filter.id};
  const auto it = filters_.find(key);
  if (it == filters_.end()) return filter_codes_of(filter.kind).not_found;
  if (it->second.pending_deletion) return filter_codes_of(filter.kind).pending_deletion;
  handle = new_handle(client_id, key);
  return win32_error::success;
}

win32_error simulated_agent::filter_set(std::uint64_t client_id, filter_kind kind,
                                        agent_handle handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  win32_error fault{};
  time_point now{};
  if (!begin_call(fault, now)) return fault;

  const auto it = own_handle(client_id, kind, handle);
  if (it == handles_.end()) return invalid_handle;
  // The handle keeps the filter, so while the caller holds it the filter stays pending.
  if (filters_.at(it->second.filter).pending_deletion)
    return filter_codes_of(kind).pending_deletion;
  return win32_error::success;
}

win32_error simulated_agent::filter_release(std::uint64_t client_id, filter_kind kind,
                                            agent_handle handle, bool delete_it) {
  std::lock_guard<std::mutex> lock(mutex_);
  win32_error fault{};
  time_point now{};
  if (!begin_call(fault, now)) return fault;

  const auto it = own_handle(client_id, kind, handle);
  if (it == handles_.end()) return invalid_handle;
  // Delete marks the filter; closing its handle then removes it at once if that was the last
  // one, or leaves it pending deletion behind the others.
  if (delete_it) filters_.at(it->second.filter).pending_deletion = true;
  close_handle(it);
  return win32_error::success;
}

}  // namespace ipsec_retry::ipsec
