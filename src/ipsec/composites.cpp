// SPDX-License-Identifier: BSL-1.0
// The composites' reports in words (composites.hpp).
#include <ipsec_retry/ipsec/composites.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ipsec_retry::ipsec {

std::string_view object_noun(object_kind object) noexcept {
  switch (object) {
    case object_kind::qm_policy:
      return "qm-policy";
    case object_kind::mm_policy:
      return "mm-policy";
    case object_kind::mm_auth_methods:
      return "mm-auth-methods";
    case object_kind::transport_filter:
      return "transport-filter";
    case object_kind::tunnel_filter:
      return "tunnel-filter";
    case object_kind::mm_filter:
      return "mm-filter";
  }
  return "qm-policy";
}

std::string step_report::name() const {
  return std::string(to_string(op)) + " " + std::string(object_noun(object));
}

std::string composite_report::failed_step_name() const {
  return failed ? steps[*failed].name() : std::string{};
}

namespace {

// What a step did to its objects: "the filters are removed" (all), "2 of 3 filters are
// removed" (some), "no filter is removed" (none).
std::string count_of(const step_report& s, std::string_view one, std::string_view many,
                     std::string_view verb) {
  const std::string v(verb);
  if (s.done == s.total) return "the " + std::string(many) + " are " + v;
  if (s.done == 0) return "no " + std::string(one) + " is " + v;
  return std::to_string(s.done) + " of " + std::to_string(s.total) + " " + std::string(many) +
         " are " + v;
}

// Whether a stopped delete's last answer says its object is still there: its own IN_USE or
// PENDING_DELETION code (the code table's role). Any other stop (a fault, a refusal, a code of
// another object) proves nothing: teardown accepts objects that were absent all along, so the
// report then says "not deleted" rather than claim the object exists (found by agent_ops_fuzz).
bool known_present(const step_report& s) {
  const auto code = windows_code(s.last_code);
  const auto meaning = code ? object_code_of(*code) : std::nullopt;
  return meaning && meaning->object == s.object &&
         (meaning->role == object_code_role::in_use ||
          meaning->role == object_code_role::pending_deletion);
}

// One fact per step that ran: what it changed, or what it left in place.
std::string fact(const step_report& s) {
  const bool auth = s.object == object_kind::mm_auth_methods;
  if (is_filter(s.object)) {
    return count_of(s, "filter", "filters",
                    s.op == agent_operation::remove ? "removed" : "re-added");
  }
  if (s.op == agent_operation::add) {
    return s.stopped ? "the new policy is not added" : "the new policy is added";
  }
  if (s.total == 1) {  // the one old policy (replace), or the one policy or auth methods set
    return std::string(auth ? "the old auth methods are" : "the old policy is") +
           (!s.stopped         ? " deleted"
            : known_present(s) ? " still present"
                               : " not deleted");
  }
  return auth ? count_of(s, "auth methods", "auth methods", "deleted")
              : count_of(s, "policy", "policies", "deleted");
}

}  // namespace

std::string composite_report::left_behind() const {
  if (!failed) return {};
  std::vector<std::string> facts;
  bool changed = false;
  for (std::size_t i = 0; i < step_count && steps[i].ran; ++i) {
    facts.push_back(fact(steps[i]));
    changed = changed || steps[i].done > 0;
  }
  if (!changed) return "nothing is changed";
  std::string out;
  for (std::size_t i = 0; i < facts.size(); ++i) {
    if (i != 0) out += i + 1 == facts.size() ? " and " : ", ";
    out += facts[i];
  }
  return out;
}

}  // namespace ipsec_retry::ipsec
