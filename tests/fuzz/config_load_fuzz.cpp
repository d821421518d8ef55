// SPDX-License-Identifier: BSL-1.0
// Fuzz target: call_site_registry::load_config (sites, budgets, budget= items) never crashes,
// a refused load changes nothing and its message names where, and an accepted load is
// consistent: every site's policy round-trips through format(), every attached budget is one
// of the registry's, and loading the same text again gives the same state.
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using ipsec_retry::ipsec::call_site_registry;

struct snapshot {
  std::vector<std::string> policies;  // formatted, per site
  std::vector<const ipsec_retry::retry_budget*> budgets;
  std::vector<ipsec_retry::retry_budget::settings> settings;
  bool operator==(const snapshot&) const = default;
};

snapshot take(const call_site_registry& sites) {
  snapshot s;
  for (const std::string& name : sites.sites()) {
    const auto site = sites.site(name);
    if (!site) std::abort();
    s.policies.push_back(site.value().policy.format());
    s.budgets.push_back(site.value().budget);
  }
  for (const std::string& name : sites.budgets()) {
    s.settings.push_back(sites.budget(name).value()->current_settings());
  }
  return s;
}

bool holds(const call_site_registry& sites, const ipsec_retry::retry_budget* budget) {
  if (budget == nullptr) return true;
  for (const std::string& name : sites.budgets()) {
    if (sites.budget(name).value() == budget) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  call_site_registry sites;
  const snapshot fresh = take(sites);
  const auto loaded = sites.load_config(text);
  if (!loaded) {
    const auto& e = loaded.error();
    if (e.message().rfind(e.source, 0) != 0 || e.message().size() <= e.source.size()) std::abort();
    if (!(take(sites) == fresh)) std::abort();  // all or nothing
    return 0;
  }
  const snapshot after = take(sites);
  for (const std::string& name : sites.sites()) {
    const auto site = sites.site(name).value();
    if (!holds(sites, site.budget)) std::abort();
    const auto again = ipsec_retry::retry_policy::parse(site.policy.format());
    if (!again || !(again.value() == site.policy)) std::abort();
  }
  if (!sites.load_config(text) || !(take(sites) == after)) std::abort();  // idempotent
  return 0;
}
