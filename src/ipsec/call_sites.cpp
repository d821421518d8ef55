// SPDX-License-Identifier: BSL-1.0
// The call-site registry's storage: its sites, budgets and breakers, lookups under a shared
// lock, definitions and attachments. Loads: call_site_loads.cpp; the configuration text:
// call_site_config.cpp.
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <mutex>
#include <string>

#include "call_site_config.hpp"
#include "call_site_state.hpp"

namespace ipsec_retry::ipsec {

using detail::error;
using detail::line_kind;
using detail::names_of;
using detail::none_name;
using detail::reader_of;
using detail::site_names;
using detail::valid_name;

const retry_policy& builtin_policy(object_kind object, agent_operation op) noexcept {
  static const retry_policy waits =
      retry_policy::parse("timeout=60s, initial=50ms, max_delay=2s").value();
  static const retry_policy change =
      retry_policy::parse("timeout=30s, initial=20ms, max_delay=1s").value();
  // The operations that wait for another client: a policy's or auth methods' delete (pending
  // deletion, IN_USE behind a filter), a filter's add (EXISTS while the old one is pending)
  // and open (pending until the last other handle closes).
  const bool waits_for_others = is_filter(object)
                                    ? op == agent_operation::add || op == agent_operation::open
                                    : op == agent_operation::remove;
  return waits_for_others ? waits : change;
}

const retry_policy& builtin_policy(agent_operation op) noexcept {
  return builtin_policy(object_kind::qm_policy, op);
}

namespace {

constexpr std::array<std::string_view, 6> object_prefix{
    "qm", "mm", "mm_auth", "transport_filter", "tunnel_filter", "mm_filter"};
constexpr std::array<agent_operation, 5> all_operations{
    agent_operation::add, agent_operation::set, agent_operation::remove, agent_operation::open,
    agent_operation::close};
constexpr std::array<object_kind, 6> all_objects{
    object_kind::qm_policy,        object_kind::mm_policy,     object_kind::mm_auth_methods,
    object_kind::transport_filter, object_kind::tunnel_filter, object_kind::mm_filter};

// "transport_filter.delete": the names are built once, as the registry's own strings.
std::string make_site_name(object_kind object, agent_operation op) {
  return std::string(object_prefix[static_cast<std::size_t>(object)]) + "." +
         std::string(to_string(op));
}

}  // namespace

std::string_view site_name(object_kind object, agent_operation op) noexcept {
  if (!traits_of(object, op).exists) return {};
  // One static table of every name, so a view stays valid for the program's life.
  static const auto names = [] {
    std::array<std::array<std::string, 5>, 6> t;
    for (object_kind o : all_objects) {
      for (agent_operation a : all_operations) {
        t[static_cast<std::size_t>(o)][static_cast<std::size_t>(a)] = make_site_name(o, a);
      }
    }
    return t;
  }();
  return names[static_cast<std::size_t>(object)][static_cast<std::size_t>(op)];
}

std::string_view site_name(policy_kind kind, policy_operation op) noexcept {
  return site_name(to_object_kind(kind), op);
}

call_site_registry::call_site_registry() : now_([] { return steady_clock_source{}.now(); }) {
  for (object_kind object : all_objects) {
    for (agent_operation op : all_operations) {
      if (!traits_of(object, op).exists) continue;
      const retry_policy& p = builtin_policy(object, op);
      sites_.push_back(site_entry{std::string(site_name(object, op)), p, p, {}, {}, {}, {}, {}});
    }
  }
  std::sort(sites_.begin(), sites_.end(),
            [](const site_entry& a, const site_entry& b) { return a.name < b.name; });
}

call_site_registry::site_entry* call_site_registry::find(site_list& sites, std::string_view name) {
  const auto it =
      std::lower_bound(sites.begin(), sites.end(), name,
                       [](const site_entry& s, std::string_view n) { return s.name < n; });
  return it != sites.end() && it->name == name ? &*it : nullptr;
}

const call_site_registry::site_entry* call_site_registry::find(const site_list& sites,
                                                               std::string_view name) {
  return find(const_cast<site_list&>(sites), name);
}

config_result<void> call_site_registry::define(std::string_view name,
                                               const retry_policy& default_policy) {
  if (!valid_name(name)) {
    return error(registry_errc::bad_site_name, "define", name,
                 "a site name is letters, digits, '.', '_' and '-'");
  }
  std::unique_lock lock(mutex_);
  if (find(sites_, name) != nullptr) {
    return error(registry_errc::duplicate_site, "define", name, "this site is already defined");
  }
  // "qm.delete", "qm_delete" and "QM.DELETE" would all read IPSEC_RETRY_QM_DELETE.
  const std::string variable = environment_variable(name);
  if (const std::string reader = reader_of(variable, sites_, budgets_, breakers_);
      !reader.empty()) {
    return error(registry_errc::duplicate_site, "define", name,
                 "its environment variable " + variable + " is already that of " + reader);
  }
  const auto at =
      std::lower_bound(sites_.begin(), sites_.end(), name,
                       [](const site_entry& s, std::string_view n) { return s.name < n; });
  sites_.insert(at,
                site_entry{std::string(name), default_policy, default_policy, {}, {}, {}, {}, {}});
  return outcome::success();
}

config_result<retry_policy> call_site_registry::policy(std::string_view name) const {
  std::shared_lock lock(mutex_);
  if (const site_entry* s = find(sites_, name)) return s->current;
  return detail::unknown_site(site_names(sites_), name, "lookup");
}

config_result<call_site> call_site_registry::site(std::string_view name) const {
  std::shared_lock lock(mutex_);
  const site_entry* s = find(sites_, name);
  if (s == nullptr) return detail::unknown_site(site_names(sites_), name, "lookup");
  call_site found{s->current, nullptr, nullptr};
  if (!s->current_budget.empty())
    found.budget = budgets_.find(s->current_budget)->second.budget.get();
  if (!s->current_breaker.empty()) {
    found.breakers = breakers_.find(s->current_breaker)->second.breakers.get();
  }
  return found;
}

namespace {

// define_budget and define_breaker.
template <class Settings, class Map, class Make>
config_result<void> check_definition(line_kind kind, std::string_view name, const Settings& s,
                                     const std::string& variable, const std::string& reader,
                                     const Map& existing, Make make) {
  const std::string noun(detail::keyword(kind));
  const std::string source = "define_" + noun;
  const std::string label = noun + " " + std::string(name);
  const bool budget = kind == line_kind::budget;
  if (!valid_name(name) || name == none_name) {
    return error(budget ? registry_errc::bad_budget : registry_errc::bad_breaker, source, label,
                 "a " + noun + " name is letters, digits, '.', '_' and '-', and not 'none'");
  }
  auto valid = make(s);
  if (!valid) {
    return detail::text_error(budget ? registry_errc::bad_budget : registry_errc::bad_breaker,
                              source, label, std::move(valid).assume_error());
  }
  const registry_errc duplicate =
      budget ? registry_errc::duplicate_budget : registry_errc::duplicate_breaker;
  if (existing.find(name) != existing.end()) {
    return error(duplicate, source, label, "this " + noun + " is already defined");
  }
  if (!reader.empty()) {
    return error(duplicate, source, label,
                 "its environment variable " + variable + " is already that of " + reader);
  }
  return outcome::success();
}

}  // namespace

config_result<void> call_site_registry::define_budget(std::string_view name,
                                                      const retry_budget::settings& settings) {
  std::unique_lock lock(mutex_);
  const std::string variable = budget_environment_variable(name);
  auto checked = check_definition(
      line_kind::budget, name, settings, variable, reader_of(variable, sites_, budgets_, breakers_),
      budgets_, [](const retry_budget::settings& s) { return retry_budget::make(s); });
  if (!checked) return checked;
  budgets_.emplace(std::string(name),
                   budget_entry{settings, std::make_unique<retry_budget>(settings), {}});
  return outcome::success();
}

config_result<void> call_site_registry::define_breaker(std::string_view name,
                                                       const circuit_breaker::settings& settings) {
  std::unique_lock lock(mutex_);
  const std::string variable = breaker_environment_variable(name);
  auto checked =
      check_definition(line_kind::breaker, name, settings, variable,
                       reader_of(variable, sites_, budgets_, breakers_), breakers_,
                       [](const circuit_breaker::settings& s) { return circuit_breaker::make(s); });
  if (!checked) return checked;
  breakers_.emplace(
      std::string(name),
      breaker_entry{
          settings, std::make_unique<circuit_breakers>(settings, registry_clock{&now_}), {}});
  return outcome::success();
}

config_result<void> call_site_registry::attach_budget(std::string_view site,
                                                      std::string_view budget) {
  std::unique_lock lock(mutex_);
  site_entry* s = find(sites_, site);
  if (s == nullptr) return detail::unknown_site(site_names(sites_), site, "attach_budget");
  if (budget == none_name) budget = {};
  if (!budget.empty() && budgets_.find(budget) == budgets_.end()) {
    return detail::unknown_guard(line_kind::budget, names_of(budgets_), budget, "attach_budget",
                                 site, 0);
  }
  s->default_budget = std::string(budget);
  s->current_budget = s->default_budget;
  return outcome::success();
}

config_result<void> call_site_registry::attach_breaker(std::string_view site,
                                                       std::string_view breaker) {
  std::unique_lock lock(mutex_);
  site_entry* s = find(sites_, site);
  if (s == nullptr) return detail::unknown_site(site_names(sites_), site, "attach_breaker");
  if (breaker == none_name) breaker = {};
  if (!breaker.empty() && breakers_.find(breaker) == breakers_.end()) {
    return detail::unknown_guard(line_kind::breaker, names_of(breakers_), breaker, "attach_breaker",
                                 site, 0);
  }
  s->default_breaker = std::string(breaker);
  s->current_breaker = s->default_breaker;
  return outcome::success();
}

config_result<retry_budget*> call_site_registry::budget(std::string_view name) const {
  std::shared_lock lock(mutex_);
  const auto it = budgets_.find(name);
  if (it == budgets_.end()) {
    return detail::unknown_guard(line_kind::budget, names_of(budgets_), name, "lookup", {}, 0);
  }
  return it->second.budget.get();
}

config_result<circuit_breakers*> call_site_registry::breaker(std::string_view name) const {
  std::shared_lock lock(mutex_);
  const auto it = breakers_.find(name);
  if (it == breakers_.end()) {
    return detail::unknown_guard(line_kind::breaker, names_of(breakers_), name, "lookup", {}, 0);
  }
  return it->second.breakers.get();
}

}  // namespace ipsec_retry::ipsec
