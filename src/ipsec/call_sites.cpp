// SPDX-License-Identifier: BSL-1.0
// The call-site registry's storage: its sites, budgets and breakers, lookups under a shared
// lock, definitions and attachments. Loads: call_site_loads.cpp; the configuration text:
// call_site_config.cpp.
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <algorithm>
#include <mutex>

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

const retry_policy& builtin_policy(policy_operation op) noexcept {
  static const retry_policy remove =
      retry_policy::parse("timeout=60s, initial=50ms, max_delay=2s").value();
  static const retry_policy change =
      retry_policy::parse("timeout=30s, initial=20ms, max_delay=1s").value();
  return op == policy_operation::remove ? remove : change;
}

std::string_view site_name(policy_kind kind, policy_operation op) noexcept {
  const bool qm = kind == policy_kind::quick_mode;
  switch (op) {
    case policy_operation::add:
      return qm ? "qm.add" : "mm.add";
    case policy_operation::set:
      return qm ? "qm.set" : "mm.set";
    case policy_operation::remove:
      return qm ? "qm.delete" : "mm.delete";
  }
  return "qm.delete";
}

call_site_registry::call_site_registry() : now_([] { return steady_clock_source{}.now(); }) {
  for (auto kind : {policy_kind::quick_mode, policy_kind::main_mode}) {
    for (auto op : {policy_operation::add, policy_operation::set, policy_operation::remove}) {
      const retry_policy& p = builtin_policy(op);
      sites_.push_back(site_entry{std::string(site_name(kind, op)), p, p, {}, {}, {}, {}});
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
  sites_.insert(at, site_entry{std::string(name), default_policy, default_policy, {}, {}, {}, {}});
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
                   budget_entry{settings, std::make_unique<retry_budget>(settings)});
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
      breaker_entry{settings, std::make_unique<circuit_breakers>(settings, registry_clock{&now_})});
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
