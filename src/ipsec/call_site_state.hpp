// SPDX-License-Identifier: BSL-1.0
// What the registry's two halves share (src/ipsec/call_sites.cpp: storage, lookups,
// definitions; src/ipsec/call_site_loads.cpp: configuration and environment loads). Internal.
#pragma once

#include <ipsec_retry/ipsec/call_sites.hpp>

#include <map>
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
};

}  // namespace detail

// A load in progress: copies of what it may change, committed only if all of it is valid.
struct call_site_registry::staged_load {
  site_list sites;
  std::map<std::string, detail::staged_settings<retry_budget::settings>, std::less<>> budgets;
  std::map<std::string, detail::staged_settings<circuit_breaker::settings>, std::less<>> breakers;

  explicit staged_load(const call_site_registry& registry) : sites(registry.sites_) {
    for (const auto& [name, entry] : registry.budgets_) {
      budgets.emplace(name, detail::staged_settings<retry_budget::settings>{
                                entry.default_settings, entry.budget->current_settings()});
    }
    for (const auto& [name, entry] : registry.breakers_) {
      breakers.emplace(name, detail::staged_settings<circuit_breaker::settings>{
                                 entry.default_settings, entry.breakers->current_settings()});
    }
  }
};

// The registry's clock, handed to the breakers it creates (the registry does not move).
struct call_site_registry::registry_clock {
  const std::function<time_point()>* function;
  time_point now() const { return (*function)(); }
};

}  // namespace ipsec_retry::ipsec
