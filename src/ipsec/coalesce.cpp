// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/ipsec/coalesce.hpp>

#include <algorithm>
#include <utility>

namespace ipsec_retry::ipsec {

pending_deletion_waits::ticket::ticket(pending_deletion_waits* owner,
                                       std::unique_ptr<member> m) noexcept
    : owner_(owner), member_(std::move(m)) {}

pending_deletion_waits::ticket::ticket(ticket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), member_(std::move(other.member_)) {}

pending_deletion_waits::ticket& pending_deletion_waits::ticket::operator=(ticket&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::exchange(other.owner_, nullptr);
    member_ = std::move(other.member_);
  }
  return *this;
}

void pending_deletion_waits::ticket::reset() noexcept {
  if (member_) owner_->drop(*member_);
  member_.reset();
  owner_ = nullptr;
}

bool pending_deletion_waits::ticket::leads() const noexcept {
  if (!member_) return false;
  std::lock_guard<std::mutex> lock(owner_->mutex_);
  return member_->part == role::leader && !member_->promoted;
}

std::stop_token pending_deletion_waits::ticket::wake_token() const noexcept {
  return member_ ? member_->woken.get_token() : std::stop_token{};
}

void pending_deletion_waits::ticket::wake() noexcept {
  if (member_) member_->woken.request_stop();
}

bool pending_deletion_waits::ticket::follows() const noexcept {
  if (!member_) return false;
  std::lock_guard<std::mutex> lock(owner_->mutex_);
  // Until told (wait/poll), a released or promoted follower still follows.
  return member_->part == role::follower || member_->released || member_->promoted;
}

pending_deletion_waits::key_type pending_deletion_waits::make_key(const wait_key& key) {
  return {std::wstring(key.endpoint), key.object, std::wstring(key.name), key.id};
}

pending_deletion_waits::ticket pending_deletion_waits::join(const wait_key& key) {
  const key_type k = make_key(key);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = waits_.find(k);
  if (it == waits_.end()) return {};
  auto m = std::make_unique<member>();
  m->part = role::follower;
  m->wait = it;
  it->second.followers.push_back(m.get());
  return ticket(this, std::move(m));
}

pending_deletion_waits::ticket pending_deletion_waits::lead(const wait_key& key) {
  key_type k = make_key(key);
  auto m = std::make_unique<member>();
  std::lock_guard<std::mutex> lock(mutex_);
  auto [it, inserted] = waits_.try_emplace(std::move(k));
  m->wait = it;
  if (inserted) {
    m->part = role::leader;
    it->second.leader = m.get();
  } else {
    m->part = role::follower;
    it->second.followers.push_back(m.get());
  }
  return ticket(this, std::move(m));
}

void pending_deletion_waits::release(ticket& leader) {
  if (!leader.member_ || leader.owner_ != this) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    member& m = *leader.member_;
    if (m.part != role::leader) return;
    for (member* f : m.wait->second.followers) {
      f->part = role::detached;
      f->released = true;  // told by its next poll()
      f->woken.request_stop();
    }
    waits_.erase(m.wait);
    m.part = role::detached;
  }
  leader.member_.reset();
  leader.owner_ = nullptr;
}

std::optional<pending_deletion_waits::wake> pending_deletion_waits::take_wake(member& m) {
  if (m.released) {
    m.released = false;
    return wake::released;
  }
  if (m.promoted) {
    m.promoted = false;
    return wake::promoted;
  }
  return std::nullopt;
}

std::optional<pending_deletion_waits::wake> pending_deletion_waits::poll(ticket& follower) {
  if (!follower.member_ || follower.owner_ != this) return std::nullopt;
  std::optional<wake> woke;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    woke = take_wake(*follower.member_);
  }
  if (woke == wake::released) {
    follower.member_.reset();
    follower.owner_ = nullptr;
  }
  return woke;
}

void pending_deletion_waits::leave(member& m) noexcept {
  switch (m.part) {
    case role::detached:
      return;
    case role::follower:
      m.wait->second.followers.remove(&m);
      break;
    case role::leader: {
      entry& e = m.wait->second;
      if (e.followers.empty()) {
        waits_.erase(m.wait);
      } else {
        // Hand over: the oldest follower polls from now on.
        member* next = e.followers.front();
        e.followers.pop_front();
        next->part = role::leader;
        next->promoted = true;
        next->woken.request_stop();
        e.leader = next;
      }
      break;
    }
  }
  m.part = role::detached;
}

void pending_deletion_waits::drop(member& m) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  leave(m);
}

bool pending_deletion_waits::waiting(const wait_key& key) const {
  const key_type k = make_key(key);
  std::lock_guard<std::mutex> lock(mutex_);
  return waits_.contains(k);
}

std::size_t pending_deletion_waits::followers(const wait_key& key) const {
  const key_type k = make_key(key);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = waits_.find(k);
  return it == waits_.end() ? 0 : it->second.followers.size();
}

}  // namespace ipsec_retry::ipsec
