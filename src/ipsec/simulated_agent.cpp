// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <ipsec_retry/detail/saturate.hpp>

namespace ipsec_retry::ipsec {

void simulated_agent::install(policy_kind kind, std::wstring_view name, bool in_use_by_sas) {
  std::lock_guard<std::mutex> lock(mutex_);
  table(kind)[std::wstring(name)] = entry{state::active, in_use_by_sas, {}};
}

void simulated_agent::begin_deletion(policy_kind kind, std::wstring_view name,
                                     time_point completes_at) {
  std::lock_guard<std::mutex> lock(mutex_);
  table(kind)[std::wstring(name)] = entry{state::pending_deletion, true, completes_at};
}

void simulated_agent::set_in_use(policy_kind kind, std::wstring_view name, bool in_use_by_sas) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& t = table(kind);
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

simulated_agent::state simulated_agent::state_of(policy_kind kind, std::wstring_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto& t = kind == policy_kind::quick_mode ? qm_ : mm_;
  const auto it = t.find(name);
  if (it == t.end()) return state::absent;
  if (it->second.current == state::pending_deletion && now_() >= it->second.pending_until) {
    return state::absent;
  }
  return it->second.current;
}

std::uint64_t simulated_agent::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

win32_error simulated_agent::call(std::map<std::wstring, entry, std::less<>>& t,
                                  std::wstring_view name, policy_codes codes, operation op) {
  ++calls_;
  if (const auto fault = faults_.find(calls_); fault != faults_.end()) return fault->second;

  const time_point now = now_();
  auto it = t.find(name);
  if (it != t.end() && it->second.current == state::pending_deletion &&
      now >= it->second.pending_until) {
    t.erase(it);  // the deletion has completed
    it = t.end();
  }
  if (it == t.end()) {
    if (op != operation::add) return codes.not_found;
    t.emplace(std::wstring(name), entry{state::active, false, {}});
    return win32_error::success;
  }
  entry& e = it->second;
  if (e.current == state::pending_deletion) return codes.pending_deletion;
  switch (op) {
    case operation::add:
      return codes.exists;
    case operation::set:
    case operation::get:
      return win32_error::success;
    case operation::remove:
      if (e.in_use_by_sas) {
        e.current = state::pending_deletion;
        e.pending_until = detail::saturating_advance(now, deletion_time_);
      } else {
        t.erase(it);
      }
      return win32_error::success;
  }
  return win32_error::success;
}

win32_error simulated_agent::add_policy(policy_kind kind, std::wstring_view name, native_policy) {
  std::lock_guard<std::mutex> lock(mutex_);
  return call(table(kind), name, codes_for(kind), operation::add);
}

win32_error simulated_agent::set_policy(policy_kind kind, std::wstring_view name, native_policy) {
  std::lock_guard<std::mutex> lock(mutex_);
  return call(table(kind), name, codes_for(kind), operation::set);
}

win32_error simulated_agent::delete_policy(policy_kind kind, std::wstring_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  return call(table(kind), name, codes_for(kind), operation::remove);
}

win32_error simulated_agent::get_policy(policy_kind kind, std::wstring_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  return call(table(kind), name, codes_for(kind), operation::get);
}

win32_error simulated_agent::delete_mm_auth_methods(const guid& id) {
  // ERROR_IPSEC_MM_AUTH_EXISTS 13010, _NOT_FOUND 13011, _IN_USE 13012, _PENDING_DELETION 13022.
  constexpr policy_codes auth_codes{win32_error{13010}, win32_error{13011}, win32_error{13012},
                                    win32_error{13022}};
  std::lock_guard<std::mutex> lock(mutex_);
  return call(auth_, auth_key(id), auth_codes, operation::remove);
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

}  // namespace ipsec_retry::ipsec
