// SPDX-License-Identifier: BSL-1.0
// simulated_agent: policies and MM auth methods, setup, call counting, and the policy_agent
// entry points of the agent (its default client) and of connected clients. Filters, handles
// and clients: simulated_filters.cpp.
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <ipsec_retry/detail/saturate.hpp>

namespace ipsec_retry::ipsec {

namespace {

constexpr policy_codes auth_codes = codes_for(object_kind::mm_auth_methods);

}  // namespace

void simulated_agent::install(policy_kind kind, std::wstring_view name, bool in_use_by_sas) {
  std::lock_guard<std::mutex> lock(mutex_);
  table(policy_object(kind))[std::wstring(name)] = entry{state::active, in_use_by_sas, {}};
}

void simulated_agent::begin_deletion(policy_kind kind, std::wstring_view name,
                                     time_point completes_at) {
  std::lock_guard<std::mutex> lock(mutex_);
  table(policy_object(kind))[std::wstring(name)] =
      entry{state::pending_deletion, true, completes_at};
}

void simulated_agent::set_in_use(policy_kind kind, std::wstring_view name, bool in_use_by_sas) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& t = table(policy_object(kind));
  if (auto it = t.find(name); it != t.end() && it->second.current == state::active) {
    it->second.in_use_by_sas = in_use_by_sas;
  }
}

void simulated_agent::set_deletion_time(std::chrono::nanoseconds deletion_time) {
  std::lock_guard<std::mutex> lock(mutex_);
  deletion_time_ = deletion_time;
}

void simulated_agent::install_mm_auth_methods(const guid& id, bool in_use_by_sas) {
  std::lock_guard<std::mutex> lock(mutex_);
  auth_[auth_key(id)] = entry{state::active, in_use_by_sas, {}};
}

void simulated_agent::inject(std::uint64_t call_number, win32_error code) {
  std::lock_guard<std::mutex> lock(mutex_);
  faults_[call_number] = code;
}

simulated_agent::state simulated_agent::state_in(const table_type& t, std::wstring_view key) const {
  const auto it = t.find(key);
  if (it == t.end()) return state::absent;
  if (it->second.current == state::pending_deletion && now_() >= it->second.pending_until) {
    return state::absent;
  }
  return it->second.current;
}

simulated_agent::state simulated_agent::state_of(policy_kind kind, std::wstring_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_in(kind == policy_kind::quick_mode ? qm_ : mm_, name);
}

simulated_agent::state simulated_agent::state_of(const guid& auth_methods) const {
  const std::wstring key = auth_key(auth_methods);
  std::lock_guard<std::mutex> lock(mutex_);
  return state_in(auth_, key);
}

std::uint64_t simulated_agent::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

bool simulated_agent::begin_call(win32_error& fault, time_point& now) {
  ++calls_;
  if (const auto it = faults_.find(calls_); it != faults_.end()) {
    fault = it->second;
    return false;
  }
  now = now_();
  settle_holds(now);
  return true;
}

simulated_agent::entry* simulated_agent::find_live(table_type& t, std::wstring_view key,
                                                   time_point now) {
  auto it = t.find(key);
  if (it == t.end()) return nullptr;
  if (it->second.current == state::pending_deletion && now >= it->second.pending_until) {
    t.erase(it);  // the deletion has completed
    return nullptr;
  }
  return &it->second;
}

simulated_agent::table_type& simulated_agent::table(object o) {
  switch (o) {
    case object::qm_policy:
      return qm_;
    case object::mm_policy:
      return mm_;
    case object::auth_methods:
      return auth_;
  }
  return qm_;
}

policy_codes simulated_agent::codes_of(object o) noexcept {
  switch (o) {
    case object::qm_policy:
      return codes_for(policy_kind::quick_mode);
    case object::mm_policy:
      return codes_for(policy_kind::main_mode);
    case object::auth_methods:
      return auth_codes;
  }
  return auth_codes;
}

win32_error simulated_agent::object_call(object o, std::wstring_view key, operation op) {
  std::lock_guard<std::mutex> lock(mutex_);
  win32_error fault{};
  time_point now{};
  if (!begin_call(fault, now)) return fault;

  const policy_codes codes = codes_of(o);
  table_type& t = table(o);
  entry* e = find_live(t, key, now);
  if (e == nullptr) {
    if (op != operation::add) return codes.not_found;
    t.emplace(std::wstring(key), entry{state::active, false, {}});
    return win32_error::success;
  }
  if (e->current == state::pending_deletion) return codes.pending_deletion;
  switch (op) {
    case operation::add:
      return codes.exists;
    case operation::set:
    case operation::get:
      return win32_error::success;
    case operation::remove:
      // A filter (active or pending deletion) still holds a reference: refused at once.
      if (is_referenced(o, key)) return codes.in_use;
      if (e->in_use_by_sas) {
        e->current = state::pending_deletion;
        e->pending_until = detail::saturating_advance(now, deletion_time_);
      } else {
        t.erase(t.find(key));
      }
      return win32_error::success;
  }
  return win32_error::success;
}

std::wstring simulated_agent::auth_key(const guid& id) {
  // The GUID's 16 bytes as 32 hex digits: a map key, never shown.
  std::wstring key;
  const auto put = [&key](std::uint64_t value, int digits) {
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
      key += L"0123456789abcdef"[(value >> shift) & 0xF];
    }
  };
  put(id.data1, 8);
  put(id.data2, 4);
  put(id.data3, 4);
  for (std::uint8_t b : id.data4) put(b, 2);
  return key;
}

// ---------------------------------------------------------------------------------------------
// A client's calls. Policies and auth methods are shared by all clients; only handles are a
// client's own.

win32_error simulated_agent::client::add_policy(policy_kind kind, std::wstring_view name,
                                                native_policy) {
  return server_->object_call(policy_object(kind), name, operation::add);
}

win32_error simulated_agent::client::set_policy(policy_kind kind, std::wstring_view name,
                                                native_policy) {
  return server_->object_call(policy_object(kind), name, operation::set);
}

win32_error simulated_agent::client::delete_policy(policy_kind kind, std::wstring_view name) {
  return server_->object_call(policy_object(kind), name, operation::remove);
}

win32_error simulated_agent::client::get_policy(policy_kind kind, std::wstring_view name) {
  return server_->object_call(policy_object(kind), name, operation::get);
}

win32_error simulated_agent::client::add_mm_auth_methods(const guid& id, native_auth_methods) {
  return server_->object_call(object::auth_methods, auth_key(id), operation::add);
}

win32_error simulated_agent::client::set_mm_auth_methods(const guid& id, native_auth_methods) {
  return server_->object_call(object::auth_methods, auth_key(id), operation::set);
}

win32_error simulated_agent::client::delete_mm_auth_methods(const guid& id) {
  return server_->object_call(object::auth_methods, auth_key(id), operation::remove);
}

win32_error simulated_agent::client::add_filter(const native_filter& filter, agent_handle& handle) {
  return server_->filter_add(id_, filter, handle);
}

win32_error simulated_agent::client::open_filter(const native_filter& filter,
                                                 agent_handle& handle) {
  return server_->filter_open(id_, filter, handle);
}

win32_error simulated_agent::client::set_filter(filter_kind kind, agent_handle handle,
                                                const native_filter&) {
  return server_->filter_set(id_, kind, handle);
}

win32_error simulated_agent::client::delete_filter(filter_kind kind, agent_handle handle) {
  return server_->filter_release(id_, kind, handle, /*delete_it=*/true);
}

win32_error simulated_agent::client::close_filter(filter_kind kind, agent_handle handle) {
  return server_->filter_release(id_, kind, handle, /*delete_it=*/false);
}

// The agent as a policy_agent is its default client.

win32_error simulated_agent::add_policy(policy_kind kind, std::wstring_view name,
                                        native_policy policy) {
  return default_client_.add_policy(kind, name, policy);
}

win32_error simulated_agent::set_policy(policy_kind kind, std::wstring_view name,
                                        native_policy policy) {
  return default_client_.set_policy(kind, name, policy);
}

win32_error simulated_agent::delete_policy(policy_kind kind, std::wstring_view name) {
  return default_client_.delete_policy(kind, name);
}

win32_error simulated_agent::get_policy(policy_kind kind, std::wstring_view name) {
  return default_client_.get_policy(kind, name);
}

win32_error simulated_agent::add_mm_auth_methods(const guid& id, native_auth_methods methods) {
  return default_client_.add_mm_auth_methods(id, methods);
}

win32_error simulated_agent::set_mm_auth_methods(const guid& id, native_auth_methods methods) {
  return default_client_.set_mm_auth_methods(id, methods);
}

win32_error simulated_agent::delete_mm_auth_methods(const guid& id) {
  return default_client_.delete_mm_auth_methods(id);
}

win32_error simulated_agent::add_filter(const native_filter& filter, agent_handle& handle) {
  return default_client_.add_filter(filter, handle);
}

win32_error simulated_agent::open_filter(const native_filter& filter, agent_handle& handle) {
  return default_client_.open_filter(filter, handle);
}

win32_error simulated_agent::set_filter(filter_kind kind, agent_handle handle,
                                        const native_filter& filter) {
  return default_client_.set_filter(kind, handle, filter);
}

win32_error simulated_agent::delete_filter(filter_kind kind, agent_handle handle) {
  return default_client_.delete_filter(kind, handle);
}

win32_error simulated_agent::close_filter(filter_kind kind, agent_handle handle) {
  return default_client_.close_filter(kind, handle);
}

}  // namespace ipsec_retry::ipsec
