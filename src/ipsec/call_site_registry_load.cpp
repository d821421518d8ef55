// SPDX-License-Identifier: BSL-1.0
// The call-site registry and the Windows registry: staging Group Policy's values
// (registry_source.hpp), and describing where every site's settings came from.
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <algorithm>
#include <array>
#include <mutex>
#include <string>

#include "../nearest_word.hpp"
#include "call_site_config.hpp"
#include "call_site_state.hpp"

namespace ipsec_retry::ipsec {

namespace {

enum class subkey { budgets, breakers, sites };

std::string key_of(subkey k) {
  static constexpr std::array<std::string_view, 3> names{"Budgets", "Breakers", "Sites"};
  return std::string(group_policy_key) + "\\" + std::string(names[static_cast<std::size_t>(k)]);
}

// The values of one key, sorted by name (enumeration order is the registry's, not ours).
outcome::std_result<std::vector<registry_value>> read_sorted(const registry_reader& reader,
                                                             registry_hive hive,
                                                             const std::string& key) {
  auto values = reader(hive, key);
  if (values) {
    std::sort(values.value().begin(), values.value().end(),
              [](const registry_value& a, const registry_value& b) { return a.name < b.name; });
  }
  return values;
}

}  // namespace

std::optional<config_error> call_site_registry::stage_registry(staged_load& staged,
                                                               const registry_reader& reader,
                                                               std::vector<std::string>* skipped) {
  const detail::variable_reader readers = [&](const std::string& variable) {
    return detail::reader_of(variable, staged.sites, staged.budgets, staged.breakers);
  };
  // Budgets and breakers first, so a site of either hive may name one the other defines; in
  // each, HKCU before HKLM, so HKLM's value is the one that stays.
  for (subkey k : {subkey::budgets, subkey::breakers, subkey::sites}) {
    const std::string key = key_of(k);
    for (registry_hive hive : {registry_hive::current_user, registry_hive::local_machine}) {
      const std::string path = std::string(to_string(hive)) + "\\" + key;
      auto values = read_sorted(reader, hive, key);
      if (!values) {
        return detail::error(registry_errc::unreadable_source, path, {},
                             "could not be read: " + values.error().message());
      }
      for (const registry_value& v : values.value()) {
        const std::string source = path + "\\" + v.name;
        const std::string label = k == subkey::sites     ? v.name
                                  : k == subkey::budgets ? "budget " + v.name
                                                         : "breaker " + v.name;
        site_entry* site = k == subkey::sites ? find(staged.sites, v.name) : nullptr;
        if (k == subkey::sites && site == nullptr) {
          if (skipped != nullptr) skipped->push_back(source);
          continue;
        }
        if (v.type != reg_sz) {
          return detail::error(registry_errc::bad_value_type, source, label,
                               "is " + registry_type_name(v.type) +
                                   "; ipsec_retry reads REG_SZ values only (the text of a "
                                   "configuration line after its ':')");
        }
        if (k != subkey::sites && (!detail::valid_name(v.name) || v.name == detail::none_name)) {
          return detail::error(
              k == subkey::budgets ? registry_errc::bad_budget : registry_errc::bad_breaker, source,
              label,
              "a value name here is a " + std::string(k == subkey::budgets ? "budget" : "breaker") +
                  "'s name: letters, digits, '.', '_' and '-', and not 'none'");
        }
        std::optional<config_error> failed;
        if (k == subkey::sites) {
          failed = apply_site_text(staged, *site, v.data, source);
        } else if (k == subkey::budgets) {
          failed = detail::stage_settings<retry_budget>(staged.budgets, v.name, v.data, 1, source,
                                                        label, false, readers);
        } else {
          failed = detail::stage_settings<circuit_breaker>(staged.breakers, v.name, v.data, 1,
                                                           source, label, false, readers);
        }
        if (failed) return failed;
      }
    }
  }
  return std::nullopt;
}

std::vector<call_site_registry::site_description> call_site_registry::describe_sites() const {
  std::shared_lock lock(mutex_);
  std::vector<site_description> out;
  out.reserve(sites_.size());
  for (const site_entry& s : sites_) {
    out.push_back({s.name, s.current, s.current_budget, s.current_breaker, s.sources});
  }
  return out;
}

std::vector<call_site_registry::guard_description> call_site_registry::describe_budgets() const {
  std::shared_lock lock(mutex_);
  std::vector<guard_description> out;
  for (const auto& [name, entry] : budgets_) {
    out.push_back({name, retry_budget::format(entry.budget->current_settings()), entry.sources});
  }
  return out;
}

std::vector<call_site_registry::guard_description> call_site_registry::describe_breakers() const {
  std::shared_lock lock(mutex_);
  std::vector<guard_description> out;
  for (const auto& [name, entry] : breakers_) {
    out.push_back(
        {name, circuit_breaker::format(entry.breakers->current_settings()), entry.sources});
  }
  return out;
}

std::vector<call_site_registry::unread_variable> call_site_registry::unread_variables(
    const std::vector<std::string>& names) const {
  constexpr std::string_view prefix = "IPSEC_RETRY_";
  std::shared_lock lock(mutex_);
  std::vector<std::string> read;  // every variable something reads
  for (const site_entry& s : sites_) read.push_back(environment_variable(s.name));
  for (const auto& [name, entry] : budgets_) read.push_back(budget_environment_variable(name));
  for (const auto& [name, entry] : breakers_) read.push_back(breaker_environment_variable(name));
  std::vector<unread_variable> out;
  for (const std::string& name : names) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (std::find(read.begin(), read.end(), name) != read.end()) continue;
    const std::string_view nearest = ipsec_retry::detail::nearest_word(name, read);
    // A suggestion only when it is a plausible typo: at most a third of the name differs.
    const bool near =
        !nearest.empty() && ipsec_retry::detail::edit_distance(name, nearest) * 3 <= name.size();
    out.push_back({name, near ? std::string(nearest) : std::string()});
  }
  return out;
}

}  // namespace ipsec_retry::ipsec
