// SPDX-License-Identifier: BSL-1.0
// Fuzz target: random sequences of operations from three clients against the simulated Policy
// Agent (docs/simulator.md, rules P1-P11 and F1-F13) in virtual time: policies, MM auth
// methods, filters through handles, rundown, pending deletions, held handles, scripted faults,
// and the replace and teardown composites (3 attempts a step, so they end fast). Two names per
// policy kind, two auth GUIDs and two filter ids per kind, so objects collide.
//
// The target records the handles each client holds and what each filter it added references,
// and checks after every step:
//   1. a filter never vanishes while a client holds a handle to it: the agent counts exactly the
//      recorded handles on every filter, a pending filter always has one, Open never gets
//      NOT_FOUND for a held filter, Set/Delete/Close through a held handle never get 6;
//   2. a policy or auth methods set referenced by an existing filter (pending deletion included)
//      is never deleted: Delete gets IN_USE, the object stays active, and the agent's
//      referenced() agrees with the record;
//   3. a composite's report matches the agent: handles consumed exactly for the filters it says
//      are removed, deleted objects not active, added ones active, re-added filters active and
//      held, agent_calls counted, left_behind() empty exactly on success;
//   4. every code is the one the rule table gives for the operation and state (so within that
//      operation's documented set; the model never returns 87), and an injected call returns
//      exactly its fault and changes nothing.
// A broken invariant prints which one on stderr and aborts.
//
// Input: one byte picks the operation, one the client, then one byte per choice (reader below);
// the run ends when the bytes do. Bytes past the end read as 0.
#include <ipsec_retry/ipsec/composites.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
using ipsec::agent_handle;
using ipsec::filter_kind;
using ipsec::guid;
using ipsec::policy_kind;
using ir::object_kind;
using sim = ipsec::simulated_agent;
using namespace std::chrono_literals;

void check(bool ok, const char* invariant) {
  if (ok) return;
  std::fprintf(stderr, "agent_ops_fuzz: broken invariant: %s\n", invariant);
  std::abort();
}

std::uint32_t u(ir::win32_error code) {
  return ir::to_underlying(code);
}

constexpr std::array<std::wstring_view, 2> qm_names{L"qm-a", L"qm-b"};
constexpr std::array<std::wstring_view, 2> mm_names{L"mm-a", L"mm-b"};
constexpr std::array<guid, 2> auth_ids{guid{0xa1, 0, 0, {}}, guid{0xa2, 0, 0, {}}};
constexpr std::array<guid, 2> filter_ids{guid{0xf1, 0, 0, {}}, guid{0xf2, 0, 0, {}}};
constexpr std::array<filter_kind, 3> filter_kinds{filter_kind::transport, filter_kind::tunnel,
                                                  filter_kind::main_mode};
constexpr std::uint32_t invalid_handle = 6;  // ERROR_INVALID_HANDLE (F12)
// ERROR_ACCESS_DENIED (permanent), RPC_S_SERVER_UNAVAILABLE (did not run: transient),
// RPC_S_CALL_FAILED (may have run: ambiguous).
constexpr std::array<std::uint32_t, 3> fault_codes{5, 1722, 1726};
constexpr std::size_t max_steps = 64;

std::wstring_view policy_name(policy_kind kind, std::size_t i) {
  return kind == policy_kind::quick_mode ? qm_names[i] : mm_names[i];
}
policy_kind policy_of(filter_kind kind) {
  return kind == filter_kind::main_mode ? policy_kind::main_mode : policy_kind::quick_mode;
}
ir::object_codes codes(policy_kind kind) {
  return ir::codes_for(ipsec::to_object_kind(kind));
}
ir::object_codes codes(filter_kind kind) {
  return ir::codes_for(ipsec::to_object_kind(kind));
}
const ir::object_codes auth_codes = ir::codes_for(object_kind::mm_auth_methods);

// The code a policy or auth-methods call gets in `before` (P1-P11), or nullopt if the agent
// must decide (Delete of an active object: 0, or IN_USE when referenced).
std::uint32_t object_rule(char op, sim::state before, bool referenced, ir::object_codes c) {
  if (before == sim::state::pending_deletion) return u(c.pending_deletion);  // P9, P10
  if (before == sim::state::absent) return op == 'a' ? 0 : u(c.not_found);   // P1, P3, P5
  switch (op) {
    case 'a':
      return u(c.exists);  // P2
    case 'd':
      return referenced ? u(c.in_use) : 0;  // P6, P7/P8
    default:
      return 0;  // P4, Get
  }
}

// Reads choices from the front of the input; past the end every choice is 0.
class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  std::size_t pick(std::size_t n) { return byte() % n; }
  std::chrono::milliseconds millis() { return std::chrono::milliseconds(byte() * 2); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

struct held_handle {
  std::size_t client = 0;
  filter_kind kind = filter_kind::transport;
  std::size_t filter = 0;  // index into filter_ids
  agent_handle handle{};
  std::optional<ir::time_point> closes_at;  // hold_until
};

// What a filter references since its last successful Add.
struct filter_refs {
  std::wstring_view policy;
  guid auth{};
};

// Every state the agent shows, to check that an injected call changed nothing.
struct snapshot {
  std::vector<sim::state> states;
  std::vector<std::size_t> handles;
  friend bool operator==(const snapshot&, const snapshot&) = default;
};

class run {
 public:
  explicit run(reader& in) : in_(in) {
    clients_[0] = &agent_.default_client();
    clients_[1] = &agent_.connect();
    clients_[2] = &agent_.connect();
    auto p = ir::retry_policy::parse("attempts=3, initial=10ms, max_delay=40ms, jitter=none");
    check(static_cast<bool>(p), "the composites' policy parses");
    step_policy_ = p.value();
    steps_ = {&step_policy_, &step_policy_, &step_policy_, &step_policy_, &step_policy_};
  }
  void step();

 private:
  using key = std::pair<filter_kind, std::size_t>;

  void policy_call(std::size_t c, char op);
  void auth_call(std::size_t c, char op);
  void add_filter(std::size_t c);
  void open_filter(std::size_t c);
  void handle_call(std::size_t c, char op);
  void replace(std::size_t c);
  void teardown(std::size_t c);
  void invariants();

  // An injected call returns its fault exactly and changes nothing; true if `n` was one.
  bool injected(std::uint64_t n, ir::win32_error code, const snapshot& before) {
    const auto it = faults_.find(n);
    if (it == faults_.end()) return false;
    check(u(code) == it->second, "4: an injected call returns its fault");
    check(take() == before, "4: an injected call changes nothing");
    return true;
  }
  bool fault_code(std::uint32_t code) const {
    return std::find(fault_codes.begin(), fault_codes.end(), code) != fault_codes.end();
  }
  snapshot take();
  std::size_t held_on(key k) const {
    return static_cast<std::size_t>(
        std::count_if(open_.begin(), open_.end(), [&](const held_handle& h) {
          return key{h.kind, h.filter} == k;
        }));
  }
  bool live(key k) {
    return agent_.filter_state(k.first, filter_ids[k.second]) != sim::state::absent;
  }
  // Whether a live filter, by the record, references the policy / auth methods.
  bool references(policy_kind kind, std::wstring_view name) {
    for (const auto& [k, r] : refs_) {
      if (policy_of(k.first) == kind && r.policy == name && live(k)) return true;
    }
    return false;
  }
  bool references(const guid& auth) {
    for (const auto& [k, r] : refs_) {
      if (k.first == filter_kind::main_mode && r.auth == auth && live(k)) return true;
    }
    return false;
  }
  void closed(std::size_t i) {
    stale_.push_back(open_[i]);
    open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  // After the last recorded handle on `k` went: a pending filter goes with it (F9, F11).
  void after_release(key k, sim::state before) {
    const sim::state now = agent_.filter_state(k.first, filter_ids[k.second]);
    if (held_on(k) > 0) {
      check(now != sim::state::absent, "1: a filter stays while a handle is held");
    } else if (before == sim::state::pending_deletion) {
      check(now == sim::state::absent, "F11: a pending filter goes with its last handle");
    } else {
      check(now == sim::state::active, "F11: closing a handle never removes an active filter");
    }
  }
  auto options() { return ir::options().with_time(time_); }
  void check_step_code(const ipsec::step_report& s);

  reader& in_;
  ir::virtual_time time_;
  sim agent_{time_.clock(), 100ms};
  std::array<sim::client*, 3> clients_{};
  std::vector<held_handle> open_;   // handles the clients hold, by the record
  std::vector<held_handle> stale_;  // closed, deleted through or run down: never valid again
  std::map<key, filter_refs> refs_;
  std::map<std::uint64_t, std::uint32_t> faults_;  // call number -> injected code
  ir::retry_policy step_policy_;
  ipsec::step_policies steps_;
};

snapshot run::take() {
  snapshot s;
  for (policy_kind kind : {policy_kind::quick_mode, policy_kind::main_mode}) {
    for (std::size_t i = 0; i < 2; ++i)
      s.states.push_back(agent_.state_of(kind, policy_name(kind, i)));
  }
  for (const guid& g : auth_ids) s.states.push_back(agent_.state_of(g));
  for (filter_kind kind : filter_kinds) {
    for (const guid& id : filter_ids) {
      s.states.push_back(agent_.filter_state(kind, id));
      s.handles.push_back(agent_.open_handles(kind, id));
    }
  }
  return s;
}

void run::policy_call(std::size_t c, char op) {
  const policy_kind kind = in_.pick(2) == 0 ? policy_kind::quick_mode : policy_kind::main_mode;
  const std::wstring_view name = policy_name(kind, in_.pick(2));
  const bool referenced = references(kind, name);
  const sim::state before = agent_.state_of(kind, name);
  const snapshot all = take();
  const std::uint64_t n = agent_.calls() + 1;
  sim::client& cl = *clients_[c];
  ir::win32_error r{};
  switch (op) {
    case 'a':
      r = cl.add_policy(kind, name, {});
      break;
    case 's':
      r = cl.set_policy(kind, name, {});
      break;
    case 'd':
      r = cl.delete_policy(kind, name);
      break;
    default:
      r = cl.get_policy(kind, name);
      break;
  }
  if (injected(n, r, all)) return;
  check(u(r) == object_rule(op, before, referenced, codes(kind)),
        "4: a policy call gets the code of P1-P11");
  const sim::state after = agent_.state_of(kind, name);
  if (op == 'd' && referenced) check(after == sim::state::active, "2: a referenced policy stays");
  if (op == 'd' && u(r) == 0) check(after != sim::state::active, "P7/P8: a deleted policy goes");
  if (op == 'a' && u(r) == 0) check(after == sim::state::active, "P1: an added policy is active");
}

void run::auth_call(std::size_t c, char op) {
  const guid& id = auth_ids[in_.pick(2)];
  const bool referenced = references(id);
  const sim::state before = agent_.state_of(id);
  const snapshot all = take();
  const std::uint64_t n = agent_.calls() + 1;
  sim::client& cl = *clients_[c];
  ir::win32_error r{};
  switch (op) {
    case 'a':
      r = cl.add_mm_auth_methods(id, {});
      break;
    case 's':
      r = cl.set_mm_auth_methods(id, {});
      break;
    default:
      r = cl.delete_mm_auth_methods(id);
      break;
  }
  if (injected(n, r, all)) return;
  check(u(r) == object_rule(op, before, referenced, auth_codes),
        "4: an auth-methods call gets the code of P1-P11");
  const sim::state after = agent_.state_of(id);
  if (op == 'd' && referenced)
    check(after == sim::state::active, "2: referenced auth methods stay");
  if (op == 'd' && u(r) == 0) check(after != sim::state::active, "P7: deleted auth methods go");
}

void run::add_filter(std::size_t c) {
  const filter_kind kind = filter_kinds[in_.pick(3)];
  const std::size_t fi = in_.pick(2);
  const bool mm = kind == filter_kind::main_mode;
  ipsec::native_filter f;
  f.kind = kind;
  f.id = filter_ids[fi];
  f.policy = policy_name(policy_of(kind), in_.pick(2));
  f.auth_methods = auth_ids[in_.pick(2)];
  const sim::state filter_before = agent_.filter_state(kind, f.id);
  const sim::state policy_before = agent_.state_of(policy_of(kind), f.policy);
  const sim::state auth_before = agent_.state_of(f.auth_methods);
  const snapshot all = take();
  const std::uint64_t n = agent_.calls() + 1;
  agent_handle h{};
  const ir::win32_error r = clients_[c]->add_filter(f, h);
  if (injected(n, r, all)) {
    check(!h, "4: an injected Add makes no handle");
    return;
  }
  std::uint32_t expected = 0;
  if (filter_before != sim::state::absent) {
    expected = u(codes(kind).exists);  // F2
  } else if (policy_before != sim::state::active) {
    const auto pc = codes(policy_of(kind));  // F3
    expected = u(policy_before == sim::state::absent ? pc.not_found : pc.pending_deletion);
  } else if (mm && auth_before != sim::state::active) {
    expected =
        u(auth_before == sim::state::absent ? auth_codes.not_found : auth_codes.pending_deletion);
  }
  check(u(r) == expected, "4: a filter Add gets the code of F1-F3");
  if (expected != 0) {
    check(!h, "F2/F3: a refused Add makes no handle");
    return;
  }
  check(static_cast<bool>(h), "F1: an Add gives a handle");
  for (const auto* list : {&open_, &stale_}) {
    for (const held_handle& o : *list) check(o.handle != h, "handles are never reused");
  }
  open_.push_back({c, kind, fi, h, {}});
  refs_[{kind, fi}] = {f.policy, mm ? f.auth_methods : guid{}};
}

void run::open_filter(std::size_t c) {
  const filter_kind kind = filter_kinds[in_.pick(3)];
  const std::size_t fi = in_.pick(2);
  ipsec::native_filter f;
  f.kind = kind;
  f.id = filter_ids[fi];
  const sim::state before = agent_.filter_state(kind, f.id);
  const snapshot all = take();
  const std::uint64_t n = agent_.calls() + 1;
  agent_handle h{};
  const ir::win32_error r = clients_[c]->open_filter(f, h);
  if (injected(n, r, all)) return;
  if (held_on({kind, fi}) > 0) {
    check(u(r) != u(codes(kind).not_found), "1: Open finds a filter someone holds");
  }
  const std::uint32_t expected = before == sim::state::absent   ? u(codes(kind).not_found)
                                 : before == sim::state::active ? 0
                                                                : u(codes(kind).pending_deletion);
  check(u(r) == expected, "4: a filter Open gets the code of F4-F6");
  if (expected == 0) {
    check(static_cast<bool>(h), "F4: an Open gives a handle");
    open_.push_back({c, kind, fi, h, {}});
  }
}

void run::handle_call(std::size_t c, char op) {
  // Which handle: one of the caller's (twice as likely), a stale one, another client's, one of
  // the caller's named as another kind, or none.
  std::vector<std::size_t> own, others;
  for (std::size_t i = 0; i < open_.size(); ++i) (open_[i].client == c ? own : others).push_back(i);
  const std::size_t source = in_.pick(6);
  const std::size_t index = in_.byte();
  filter_kind kind = filter_kinds[in_.pick(3)];
  std::optional<std::size_t> mine;  // index into open_ when the call is through a valid handle
  agent_handle h{};
  if (source <= 1 && !own.empty()) {
    mine = own[index % own.size()];
    kind = open_[*mine].kind;
    h = open_[*mine].handle;
  } else if (source == 2 && !stale_.empty()) {
    h = stale_[index % stale_.size()].handle;
  } else if (source == 3 && !others.empty()) {
    h = open_[others[index % others.size()]].handle;
  } else if (source == 4 && !own.empty()) {
    const held_handle& o = open_[own[index % own.size()]];
    h = o.handle;
    if (kind == o.kind) kind = filter_kinds[(static_cast<std::size_t>(kind) + 1) % 3];
  }
  std::optional<key> k;
  sim::state before = sim::state::absent;
  if (mine) {
    k = key{open_[*mine].kind, open_[*mine].filter};
    before = agent_.filter_state(k->first, filter_ids[k->second]);
    check(before != sim::state::absent, "1: a held filter exists");
  }
  const snapshot all = take();
  const std::uint64_t n = agent_.calls() + 1;
  sim::client& cl = *clients_[c];
  ir::win32_error r{};
  switch (op) {
    case 's':
      r = cl.set_filter(kind, h, {});
      break;
    case 'd':
      r = cl.delete_filter(kind, h);
      break;
    default:
      r = cl.close_filter(kind, h);
      break;
  }
  if (injected(n, r, all)) return;
  if (!mine) {
    check(u(r) == invalid_handle, "F12: a handle that is not the caller's gets 6");
    return;
  }
  check(u(r) != invalid_handle, "1: a held handle is valid");
  if (op == 's') {
    check(u(r) == (before == sim::state::pending_deletion ? u(codes(kind).pending_deletion) : 0),
          "4: a filter Set gets the code of F7/F8");
    return;
  }
  check(u(r) == 0, "F9-F11: Delete and Close through a held handle get 0");
  closed(*mine);
  after_release(*k, op == 'd' ? sim::state::pending_deletion : before);
}

void run::check_step_code(const ipsec::step_report& s) {
  if (!s.stopped) return;
  check(s.last_code.category() == ir::win32_category(), "4: a step's code is a Windows code");
  const auto code = static_cast<std::uint32_t>(s.last_code.value());
  if (fault_code(code)) return;
  const bool filter = ipsec::is_filter(s.object);
  // A step is named after its first object; teardown may list QM and MM policies together,
  // and replace may move transport and tunnel filters together.
  const auto any_of = [&](auto member, std::initializer_list<object_kind> objects) {
    for (object_kind o : objects) {
      if (code == u(ir::codes_for(o).*member)) return true;
    }
    return false;
  };
  const auto policies = {object_kind::qm_policy, object_kind::mm_policy};
  const auto referenced = {object_kind::qm_policy, object_kind::mm_policy,
                           object_kind::mm_auth_methods};
  const auto filters = {object_kind::transport_filter, object_kind::tunnel_filter,
                        object_kind::mm_filter};
  const auto own = s.object == object_kind::mm_auth_methods
                       ? std::initializer_list<object_kind>{object_kind::mm_auth_methods}
                       : policies;
  bool ok = false;
  switch (s.op) {
    case ipsec::agent_operation::remove:  // F12; P5, P6, P9
      ok = filter ? code == invalid_handle
                  : any_of(&ir::object_codes::not_found, own) ||
                        any_of(&ir::object_codes::in_use, own) ||
                        any_of(&ir::object_codes::pending_deletion, own);
      break;
    case ipsec::agent_operation::add:  // F2, F3; P2, P9
      ok = filter ? any_of(&ir::object_codes::exists, filters) ||
                        any_of(&ir::object_codes::not_found, referenced) ||
                        any_of(&ir::object_codes::pending_deletion, referenced)
                  : any_of(&ir::object_codes::exists, own) ||
                        any_of(&ir::object_codes::pending_deletion, own);
      break;
    default:
      break;
  }
  if (!ok) std::fprintf(stderr, "%s stopped with %u\n", s.name().c_str(), code);
  check(ok, "4: a composite step stops with a code its operation can get");
}

// Whether the report's left_behind() states `fact`.
bool says(const ipsec::composite_report& r, std::string_view fact) {
  return r.left_behind().find(fact) != std::string::npos;
}

// Claims common to both composites: the report's shape and counts.
void check_report(const ipsec::composite_report& r, std::uint64_t calls) {
  check(r.agent_calls == calls, "3: a composite counts every agent call");
  std::optional<std::size_t> first;
  for (std::size_t i = 0; i < r.step_count; ++i) {
    const auto& s = r.steps[i];
    if (!first && s.stopped) first = i;
    check(s.done <= s.total, "3: a step finishes at most its objects");
    check(!s.ran || s.stopped || s.done == s.total, "3: a step that succeeded finished all");
    check(!first || i <= *first || !s.ran, "3: no step runs after a failed one");
  }
  check(r.failed == first, "3: the failed step is the first that stopped");
  check(r.left_behind().empty() == !r.failed, "3: left_behind() is given exactly on failure");
}

void run::replace(std::size_t c) {
  const policy_kind kind = in_.pick(2) == 0 ? policy_kind::quick_mode : policy_kind::main_mode;
  const std::wstring_view old_name = policy_name(kind, in_.pick(2));
  const std::wstring_view new_name = policy_name(kind, in_.pick(2));
  const std::size_t count = in_.pick(3);
  const std::size_t offset = in_.byte();
  const guid auth = auth_ids[in_.pick(2)];
  sim::client& cl = *clients_[c];

  // Up to `count` of the caller's handles on filters using the old policy (replace_policy's
  // contract).
  std::vector<held_handle> taken;
  std::vector<std::size_t> fit;
  for (std::size_t i = 0; i < open_.size(); ++i) {
    const held_handle& h = open_[i];
    if (h.client == c && policy_of(h.kind) == kind &&
        refs_.at({h.kind, h.filter}).policy == old_name) {
      fit.push_back(i);
    }
  }
  for (std::size_t j = 0; j < std::min(count, fit.size()); ++j) {
    taken.push_back(open_[fit[(offset + j) % fit.size()]]);
    if (j == 1 && taken[1].handle == taken[0].handle) taken.pop_back();
  }
  std::vector<ipsec::replaced_filter> filters;
  for (const held_handle& t : taken) {
    ipsec::native_filter f;
    f.kind = t.kind;
    f.id = filter_ids[t.filter];
    f.policy = new_name;
    f.auth_methods = auth;
    filters.push_back({ipsec::filter_handle(cl, t.kind, t.handle), f});
    std::erase_if(open_, [&](const held_handle& o) { return o.handle == t.handle; });
  }
  const std::uint64_t calls_before = agent_.calls();
  const ipsec::composite_report r = ipsec::replace_policy(cl, kind, old_name, new_name, {},
                                                          std::span(filters), steps_, options());
  check_report(r, agent_.calls() - calls_before);
  check(r.step_count == 4, "3: replace reports four steps");
  for (std::size_t i = 0; i < r.step_count; ++i) check_step_code(r.steps[i]);
  const auto& removal = r.steps[0];
  const auto& policy_delete = r.steps[1];
  const auto& policy_add = r.steps[2];
  const auto& readd = r.steps[3];

  // Step 1: the first `done` handles are consumed; the rest are still the caller's.
  for (std::size_t i = 0; i < filters.size(); ++i) {
    const agent_handle now = filters[i].handle.release();
    if (i < removal.done) {
      check(now != taken[i].handle, "3: a removed filter's handle is consumed");
      stale_.push_back(taken[i]);
      if (readd.ran && i < readd.done) {
        check(static_cast<bool>(now), "3: a re-added filter is held");
        open_.push_back({c, taken[i].kind, taken[i].filter, now, {}});
        refs_[{taken[i].kind, taken[i].filter}] = {
            new_name, taken[i].kind == filter_kind::main_mode ? auth : guid{}};
      } else {
        check(!now, "3: a filter not re-added is not held");
      }
    } else {
      check(now == taken[i].handle, "3: a filter not removed keeps its handle");
      open_.push_back(taken[i]);
    }
  }
  // Steps 2 and 3: the old policy deleted or still present; the new one added.
  const sim::state old_after = agent_.state_of(kind, old_name);
  if (policy_delete.ran && !policy_delete.stopped &&
      !(old_name == new_name && policy_add.ran && !policy_add.stopped)) {
    check(old_after != sim::state::active, "3: replace's deleted old policy is not active");
  }
  if (says(r, "the old policy is still present")) {
    check(old_after != sim::state::absent, "3: replace's old policy is still present");
  }
  if (policy_add.ran && !policy_add.stopped) {
    check(agent_.state_of(kind, new_name) == sim::state::active,
          "3: replace's new policy is added");
  }
  for (std::size_t i = 0; readd.ran && i < readd.done; ++i) {
    check(agent_.filter_state(taken[i].kind, filter_ids[taken[i].filter]) == sim::state::active,
          "3: a re-added filter is active");
  }
}

void run::teardown(std::size_t c) {
  const std::size_t count = in_.pick(3);
  const std::size_t offset = in_.byte();
  std::vector<ipsec::teardown_policy_ref> policies(in_.pick(3));
  for (auto& p : policies) {
    p.kind = in_.pick(2) == 0 ? policy_kind::quick_mode : policy_kind::main_mode;
    p.name = policy_name(p.kind, in_.pick(2));
  }
  std::vector<guid> auths(in_.pick(3));
  for (guid& g : auths) g = auth_ids[in_.pick(2)];
  sim::client& cl = *clients_[c];

  std::vector<held_handle> taken;
  std::vector<std::size_t> own;
  for (std::size_t i = 0; i < open_.size(); ++i) {
    if (open_[i].client == c) own.push_back(i);
  }
  for (std::size_t j = 0; j < std::min(count, own.size()); ++j) {
    taken.push_back(open_[own[(offset + j) % own.size()]]);
    if (j == 1 && taken[1].handle == taken[0].handle) taken.pop_back();
  }
  std::vector<ipsec::filter_handle> handles;
  for (const held_handle& t : taken) {
    handles.emplace_back(cl, t.kind, t.handle);
    std::erase_if(open_, [&](const held_handle& o) { return o.handle == t.handle; });
  }

  // teardown() takes absent objects (NOT_FOUND is done): its report may say "still present"
  // only when the agent's last answer proved it (IN_USE or PENDING_DELETION), else "not
  // deleted". Input 11 ff 01 ff 63 40 01 40 01 ff ff 01 (ACCESS_DENIED injected on the Delete of
  // absent auth methods) once made it claim presence; the claim is checked for every object.
  const std::uint64_t calls_before = agent_.calls();
  const ipsec::composite_report r =
      ipsec::teardown(cl, std::span(handles), std::span<const ipsec::teardown_policy_ref>(policies),
                      std::span<const guid>(auths), steps_, options());
  check_report(r, agent_.calls() - calls_before);
  check(r.step_count == 3, "3: teardown reports three steps");
  for (std::size_t i = 0; i < r.step_count; ++i) check_step_code(r.steps[i]);

  for (std::size_t i = 0; i < handles.size(); ++i) {
    const agent_handle now = handles[i].release();
    if (i < r.steps[0].done) {
      check(!now, "3: a removed filter's handle is consumed");
      stale_.push_back(taken[i]);
    } else {
      check(now == taken[i].handle, "3: a filter not removed keeps its handle");
      open_.push_back(taken[i]);
    }
  }
  const auto& ps = r.steps[1];
  for (std::size_t i = 0; ps.ran && i < policies.size(); ++i) {
    const sim::state after = agent_.state_of(policies[i].kind, policies[i].name);
    if (i < ps.done) check(after != sim::state::active, "3: a torn-down policy is not active");
    if (says(r, "the old policy is still present")) {
      check(after != sim::state::absent, "3: teardown's old policy is still present");
    }
  }
  const auto& as = r.steps[2];
  for (std::size_t i = 0; as.ran && i < auths.size(); ++i) {
    const sim::state after = agent_.state_of(auths[i]);
    if (i < as.done) check(after != sim::state::active, "3: torn-down auth methods are not active");
    if (says(r, "the old auth methods are still present")) {
      check(after != sim::state::absent, "3: teardown's old auth methods are still present");
    }
  }
}

void run::step() {
  const std::size_t op = in_.pick(20);
  const std::size_t c = in_.pick(3);
  switch (op) {
    case 0:
      policy_call(c, 'a');
      break;
    case 1:
      policy_call(c, 's');
      break;
    case 2:
      policy_call(c, 'd');
      break;
    case 3:
      policy_call(c, 'g');
      break;
    case 4:
      auth_call(c, 'a');
      break;
    case 5:
      auth_call(c, 's');
      break;
    case 6:
      auth_call(c, 'd');
      break;
    case 7:
      add_filter(c);
      break;
    case 8:
      open_filter(c);
      break;
    case 9:
      handle_call(c, 's');
      break;
    case 10:
      handle_call(c, 'd');
      break;
    case 11:
      handle_call(c, 'c');
      break;
    case 12: {  // RPC rundown (F13)
      std::vector<std::pair<key, sim::state>> touched;
      for (const held_handle& h : open_) {
        if (h.client == c) {
          touched.push_back(
              {{h.kind, h.filter}, agent_.filter_state(h.kind, filter_ids[h.filter])});
        }
      }
      check(agent_.disconnect(*clients_[c]) == touched.size(),
            "F13: rundown closes every handle the client holds");
      for (std::size_t i = open_.size(); i-- > 0;) {
        if (open_[i].client == c) closed(i);
      }
      for (const auto& [k, before] : touched) after_release(k, before);
      break;
    }
    case 13: {  // the documented pending deletion, of an object no filter uses
      const policy_kind kind = in_.pick(2) == 0 ? policy_kind::quick_mode : policy_kind::main_mode;
      const std::wstring_view name = policy_name(kind, in_.pick(2));
      const auto after = in_.millis();
      if (!references(kind, name)) agent_.begin_deletion(kind, name, time_.now() + after);
      break;
    }
    case 14:
      time_.advance(in_.millis());
      break;
    case 15: {  // setup: install, in use by SAs
      const std::size_t what = in_.pick(3);
      const policy_kind kind = in_.pick(2) == 0 ? policy_kind::quick_mode : policy_kind::main_mode;
      const std::size_t i = in_.pick(2);
      const bool in_use = in_.pick(2) == 1;
      if (what == 0) agent_.install(kind, policy_name(kind, i), in_use);
      if (what == 1) agent_.set_in_use(kind, policy_name(kind, i), in_use);
      if (what == 2) agent_.install_mm_auth_methods(auth_ids[i], in_use);
      break;
    }
    case 16: {  // client `c` closes one of the handles at a later time (if it is c's)
      const std::size_t index = in_.byte();
      const auto after = in_.millis();
      if (open_.empty()) break;
      held_handle& h = open_[index % open_.size()];
      const ir::time_point at = time_.now() + after;
      const bool held = agent_.hold_until(*clients_[c], h.handle, at);
      check(held == (h.client == c), "hold_until takes exactly the holder's handles");
      if (held) h.closes_at = std::min(h.closes_at.value_or(at), at);
      break;
    }
    case 17: {
      const std::uint64_t n = agent_.calls() + 1 + in_.pick(4);
      const std::uint32_t code = fault_codes[in_.pick(3)];
      agent_.inject(n, ir::win32_error{code});
      faults_[n] = code;
      break;
    }
    case 18:
      replace(c);
      break;
    default:
      teardown(c);
      break;
  }
  invariants();
}

void run::invariants() {
  // Holds that are due: the agent settles them at this reading of the clock (filter_state
  // below), so the record does too.
  for (std::size_t i = open_.size(); i-- > 0;) {
    if (open_[i].closes_at && *open_[i].closes_at <= time_.now()) closed(i);
  }
  for (filter_kind kind : filter_kinds) {
    for (std::size_t fi = 0; fi < filter_ids.size(); ++fi) {
      const sim::state s = agent_.filter_state(kind, filter_ids[fi]);
      const std::size_t held = held_on({kind, fi});
      check(agent_.open_handles(kind, filter_ids[fi]) == held,
            "1: the agent counts exactly the handles the clients hold");
      if (held > 0) check(s != sim::state::absent, "1: a held filter never vanishes");
      if (s == sim::state::pending_deletion) {
        check(held > 0, "F10/F11: a pending filter lives only behind a handle");
      }
      const auto it = refs_.find({kind, fi});
      if (s == sim::state::absent) continue;
      check(it != refs_.end(), "a filter exists only after an Add");
      const policy_kind pk = policy_of(kind);
      check(agent_.state_of(pk, it->second.policy) == sim::state::active,
            "2: a filter's policy stays active");
      check(agent_.referenced(pk, it->second.policy), "2: the agent sees the filter's reference");
      if (kind == filter_kind::main_mode) {
        check(agent_.state_of(it->second.auth) == sim::state::active,
              "2: an MM filter's auth methods stay active");
        check(agent_.referenced(it->second.auth), "2: the agent sees the auth reference");
      }
    }
  }
  for (policy_kind kind : {policy_kind::quick_mode, policy_kind::main_mode}) {
    for (std::size_t i = 0; i < 2; ++i) {
      check(agent_.referenced(kind, policy_name(kind, i)) == references(kind, policy_name(kind, i)),
            "2: the agent references a policy exactly when a live filter does");
    }
  }
  for (const guid& g : auth_ids) {
    check(agent_.referenced(g) == references(g),
          "2: the agent references auth methods exactly when a live MM filter does");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in(data, size);
  run r(in);
  for (std::size_t i = 0; i < max_steps && !in.done(); ++i) r.step();
  return 0;
}
