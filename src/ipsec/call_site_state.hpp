// SPDX-License-Identifier: BSL-1.0
// What the registry's parts share (src/ipsec/call_sites.cpp: storage, lookups, definitions;
// call_site_loads.cpp: configuration, environment and reload; call_site_registry_load.cpp: the
// Windows registry's values; call_site_describe.cpp: descriptions). Internal.
#pragma once

#include <ipsec_retry/ipsec/call_sites.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipsec_retry::ipsec {
namespace detail {

template <class Map>
std::vector<std::string_view> names_of(const Map& map) {
  std::vector<std::string_view> names;
  for (const auto& [name, entry] : map) names.push_back(name);
  return names;
}

template <class Sites>
std::vector<std::string_view> site_names(const Sites& sites) {
  std::vector<std::string_view> names;
  for (const auto& s : sites) names.push_back(s.name);
  return names;
}

// Who already reads `variable`, as "site 'x'", "budget 'y'" or "breaker 'z'"; empty if nobody.
template <class Sites, class Budgets, class Breakers>
std::string reader_of(const std::string& variable, const Sites& sites, const Budgets& budgets,
                      const Breakers& breakers) {
  for (const auto& s : sites) {
    if (call_site_registry::environment_variable(s.name) == variable) {
      return "site '" + s.name + "'";
    }
  }
  for (const auto& [name, entry] : budgets) {
    if (call_site_registry::budget_environment_variable(name) == variable) {
      return "budget '" + name + "'";
    }
  }
  for (const auto& [name, entry] : breakers) {
    if (call_site_registry::breaker_environment_variable(name) == variable) {
      return "breaker '" + name + "'";
    }
  }
  return {};
}

// A budget's or breaker's settings during a load.
template <class Settings>
struct staged_settings {
  Settings default_settings;
  Settings current;    // what it has now (it may have been reconfigured directly), or what
                       // this load gives it
  bool given = false;  // this load sets it: commit applies `current`
  std::vector<std::string> sources;  // what set it since its default, lowest first
};

using staged_budgets = std::map<std::string, staged_settings<retry_budget::settings>, std::less<>>;
using staged_breakers =
    std::map<std::string, staged_settings<circuit_breaker::settings>, std::less<>>;

// Who already reads an environment variable (reader_of), or "" if nobody.
using variable_reader = std::function<std::string(const std::string&)>;

// Stages a budget's or breaker's settings text from `source` (labelled `label`, e.g. "budget
// agent"): over its default when `from_line` (a configuration line; its sources restart), else
// over what it has (a variable or registry value). A budget or breaker not in `staged` is
// created, unless `reader` names another reader of its environment variable. Instantiated for
// <retry_budget, staged_budgets> and <circuit_breaker, staged_breakers>.
template <class Guard, class Map>
std::optional<config_error> stage_settings(Map& staged, std::string_view name,
                                           std::string_view text, std::size_t first_column,
                                           const std::string& source, const std::string& label,
                                           bool from_line, const variable_reader& reader);

}  // namespace detail

// A load in progress: copies of what it may change, committed only if all of it is valid.
struct call_site_registry::staged_load {
  site_list sites;
  detail::staged_budgets budgets;
  detail::staged_breakers breakers;

  /// A copy of what `registry` has now; with `from_defaults`, of its defaults instead (every
  /// budget and breaker marked given, so commit puts them back to their defaults).
  staged_load(const call_site_registry& registry, bool from_defaults) : sites(registry.sites_) {
    for (const auto& [name, entry] : registry.budgets_) {
      budgets.emplace(
          name, detail::staged_settings<retry_budget::settings>{
                    entry.default_settings,
                    from_defaults ? entry.default_settings : entry.budget->current_settings(),
                    from_defaults, from_defaults ? std::vector<std::string>{} : entry.sources});
    }
    for (const auto& [name, entry] : registry.breakers_) {
      breakers.emplace(
          name, detail::staged_settings<circuit_breaker::settings>{
                    entry.default_settings,
                    from_defaults ? entry.default_settings : entry.breakers->current_settings(),
                    from_defaults, from_defaults ? std::vector<std::string>{} : entry.sources});
    }
    if (!from_defaults) return;
    for (site_entry& s : sites) {
      s.current = s.default_policy;
      s.current_budget = s.default_budget;
      s.current_breaker = s.default_breaker;
      s.sources.clear();
    }
  }
};

// The registry's clock, handed to the breakers it creates (the registry does not move).
struct call_site_registry::registry_clock {
  const std::function<time_point()>* function;
  time_point now() const { return (*function)(); }
};

}  // namespace ipsec_retry::ipsec
