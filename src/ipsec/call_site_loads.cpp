// SPDX-License-Identifier: BSL-1.0
// The call-site registry's loads: a configuration text, the environment and reload(), all or
// nothing (staged, then committed). The text itself is parsed by call_site_config.cpp; the
// registry's values are staged by call_site_registry_load.cpp.
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <type_traits>

#include "call_site_config.hpp"
#include "call_site_state.hpp"

namespace ipsec_retry::ipsec {

using detail::error;
using detail::line_kind;
using detail::names_of;
using detail::reader_of;
using detail::site_names;

void call_site_registry::commit(staged_load& staged) {
  // Everything that allocates comes first, so running out of memory changes nothing.
  budget_map new_budgets;
  for (const auto& [name, settings] : staged.budgets) {
    if (budgets_.find(name) == budgets_.end()) {
      new_budgets.emplace(
          name, budget_entry{settings.default_settings,
                             std::make_unique<retry_budget>(settings.current), settings.sources});
    }
  }
  breaker_map new_breakers;
  for (const auto& [name, settings] : staged.breakers) {
    if (breakers_.find(name) == breakers_.end()) {
      new_breakers.emplace(name, breaker_entry{settings.default_settings,
                                               std::make_unique<circuit_breakers>(
                                                   settings.current, registry_clock{&now_}),
                                               settings.sources});
    }
  }
  for (auto& [name, settings] : staged.budgets) {
    const auto it = budgets_.find(name);
    if (it == budgets_.end()) continue;
    it->second.default_settings = settings.default_settings;
    it->second.sources.swap(settings.sources);
    if (settings.given) it->second.budget->reconfigure(settings.current);
  }
  for (auto& [name, settings] : staged.breakers) {
    const auto it = breakers_.find(name);
    if (it == breakers_.end()) continue;
    it->second.default_settings = settings.default_settings;
    it->second.sources.swap(settings.sources);
    if (settings.given) it->second.breakers->reconfigure(settings.current);
  }
  budgets_.merge(new_budgets);  // moves the nodes: no allocation
  breakers_.merge(new_breakers);
  sites_ = std::move(staged.sites);
}

namespace detail {

template <class Guard, class Map>
std::optional<config_error> stage_settings(Map& staged, std::string_view name,
                                           std::string_view text, std::size_t first_column,
                                           const std::string& source, const std::string& label,
                                           bool from_line, const variable_reader& reader) {
  constexpr bool budget = std::is_same_v<Guard, retry_budget>;
  auto entry = staged.find(name);
  if (entry == staged.end()) {
    const std::string variable = budget ? call_site_registry::budget_environment_variable(name)
                                        : call_site_registry::breaker_environment_variable(name);
    if (const std::string other = reader(variable); !other.empty()) {
      return error(budget ? registry_errc::duplicate_budget : registry_errc::duplicate_breaker,
                   source, label,
                   "its environment variable " + variable + " is already that of " + other);
    }
    entry = staged.emplace(std::string(name), typename Map::mapped_type{}).first;
  }
  auto& settings = entry->second;
  auto parsed = Guard::parse(text, from_line ? settings.default_settings : settings.current);
  if (!parsed) {
    return text_error(budget ? registry_errc::bad_budget : registry_errc::bad_breaker, source,
                      label, in_line(std::move(parsed).assume_error(), first_column));
  }
  settings.current = parsed.value();
  settings.given = true;
  if (from_line) settings.sources.clear();  // a line starts from the default
  settings.sources.push_back(source);
  return std::nullopt;
}

template std::optional<config_error> stage_settings<retry_budget, staged_budgets>(
    staged_budgets&, std::string_view, std::string_view, std::size_t, const std::string&,
    const std::string&, bool, const variable_reader&);
template std::optional<config_error> stage_settings<circuit_breaker, staged_breakers>(
    staged_breakers&, std::string_view, std::string_view, std::size_t, const std::string&,
    const std::string&, bool, const variable_reader&);

}  // namespace detail

std::optional<config_error> call_site_registry::apply_site_text(staged_load& staged,
                                                                site_entry& site,
                                                                std::string_view text,
                                                                const std::string& source) {
  auto parsed = detail::parse_site_text(text, site.current);
  if (!parsed) {
    return detail::text_error(registry_errc::bad_policy, source, site.name,
                              std::move(parsed).assume_error());
  }
  const detail::site_update& update = parsed.value();
  if (update.budget && !update.budget->empty() &&
      staged.budgets.find(*update.budget) == staged.budgets.end()) {
    return detail::unknown_guard(line_kind::budget, names_of(staged.budgets), *update.budget,
                                 source, site.name, update.budget_column);
  }
  if (update.breaker && !update.breaker->empty() &&
      staged.breakers.find(*update.breaker) == staged.breakers.end()) {
    return detail::unknown_guard(line_kind::breaker, names_of(staged.breakers), *update.breaker,
                                 source, site.name, update.breaker_column);
  }
  site.current = update.policy;
  if (update.budget) site.current_budget = *update.budget;
  if (update.breaker) site.current_breaker = *update.breaker;
  site.sources.push_back(source);
  return std::nullopt;
}

std::optional<config_error> call_site_registry::stage_config(staged_load& staged,
                                                             std::string_view text,
                                                             std::string_view source_name) {
  struct reference {  // checked once every line is read: it may be defined later
    const detail::config_line* line;
    line_kind kind;
    std::string name;
    std::size_t column;
  };
  std::vector<reference> references;
  std::deque<detail::config_line> kept;  // what the references point into (stable addresses)
  const detail::variable_reader reader = [&](const std::string& variable) {
    return reader_of(variable, staged.sites, staged.budgets, staged.breakers);
  };
  detail::config_reader config(text, source_name);
  while (auto next = config.next()) {
    if (!*next) return std::move(*next).assume_error();
    const detail::config_line& line = kept.emplace_back(std::move(next->value()));
    const auto at_line = [&](config_error e) {
      e.line = line.number;
      return e;
    };
    std::optional<config_error> failed;
    if (line.kind == line_kind::budget) {
      failed = detail::stage_settings<retry_budget>(staged.budgets, line.name, line.settings,
                                                    line.settings_column, line.source, line.label,
                                                    true, reader);
    } else if (line.kind == line_kind::breaker) {
      failed = detail::stage_settings<circuit_breaker>(staged.breakers, line.name, line.settings,
                                                       line.settings_column, line.source,
                                                       line.label, true, reader);
    } else {
      site_entry* target = find(staged.sites, line.name);
      if (target == nullptr) {
        return at_line(detail::unknown_site(site_names(staged.sites), line.name, line.source,
                                            line.name_column));
      }
      auto parsed =
          detail::parse_site_text(line.settings, target->default_policy, line.settings_column);
      if (!parsed) {
        return at_line(detail::text_error(registry_errc::bad_policy, line.source, line.name,
                                          std::move(parsed).assume_error()));
      }
      const detail::site_update& update = parsed.value();
      target->current = update.policy;
      target->current_budget = update.budget ? *update.budget : target->default_budget;
      target->current_breaker = update.breaker ? *update.breaker : target->default_breaker;
      target->sources.assign(1, line.source);  // a line starts from the default
      if (update.budget && !update.budget->empty()) {
        references.push_back({&line, line_kind::budget, *update.budget, update.budget_column});
      }
      if (update.breaker && !update.breaker->empty()) {
        references.push_back({&line, line_kind::breaker, *update.breaker, update.breaker_column});
      }
    }
    if (failed) return at_line(std::move(*failed));
  }
  for (const reference& r : references) {
    const bool budget = r.kind == line_kind::budget;
    const bool known = budget ? staged.budgets.find(r.name) != staged.budgets.end()
                              : staged.breakers.find(r.name) != staged.breakers.end();
    if (!known) {
      config_error e = detail::unknown_guard(
          r.kind, budget ? names_of(staged.budgets) : names_of(staged.breakers), r.name,
          r.line->source, r.line->name, r.column);
      e.line = r.line->number;
      return e;
    }
  }
  return std::nullopt;
}

std::optional<config_error> call_site_registry::stage_environment(staged_load& staged,
                                                                  const getenv_function& getenv) {
  for (site_entry& s : staged.sites) {
    const std::string variable = environment_variable(s.name);
    if (const char* value = getenv(variable.c_str())) {
      if (auto e = apply_site_text(staged, s, value, variable)) return e;
    }
  }
  const detail::variable_reader nobody = [](const std::string&) { return std::string(); };
  for (const auto& [name, settings] : staged.budgets) {
    const std::string variable = budget_environment_variable(name);
    if (const char* value = getenv(variable.c_str())) {
      if (auto e = detail::stage_settings<retry_budget>(staged.budgets, name, value, 1, variable,
                                                        "budget " + name, false, nobody)) {
        return e;
      }
    }
  }
  for (const auto& [name, settings] : staged.breakers) {
    const std::string variable = breaker_environment_variable(name);
    if (const char* value = getenv(variable.c_str())) {
      if (auto e = detail::stage_settings<circuit_breaker>(
              staged.breakers, name, value, 1, variable, "breaker " + name, false, nobody)) {
        return e;
      }
    }
  }
  return std::nullopt;
}

template <class Stage>
config_result<void> call_site_registry::load(bool from_defaults, Stage stage) {
  std::unique_lock lock(mutex_);
  staged_load staged(*this, from_defaults);  // all-or-nothing
  if (std::optional<config_error> failed = stage(staged)) return std::move(*failed);
  commit(staged);
  return outcome::success();
}

config_result<void> call_site_registry::load_config(std::string_view text) {
  return load_config(text, {});
}

config_result<void> call_site_registry::load_config(std::string_view text,
                                                    std::string_view source_name) {
  return load(false, [&](staged_load& staged) { return stage_config(staged, text, source_name); });
}

config_result<void> call_site_registry::load_environment() {
  return load_environment(
      [](const char* variable) -> const char* { return std::getenv(variable); });
}

config_result<void> call_site_registry::load_environment(const getenv_function& getenv) {
  return load(false, [&](staged_load& staged) { return stage_environment(staged, getenv); });
}

config_result<void> call_site_registry::load_registry(std::vector<std::string>* skipped) {
  return load_registry(system_registry(), skipped);
}

config_result<void> call_site_registry::load_registry(const registry_reader& reader,
                                                      std::vector<std::string>* skipped) {
  return load(false, [&](staged_load& staged) { return stage_registry(staged, reader, skipped); });
}

config_result<void> call_site_registry::reload(const configuration_sources& from,
                                               std::vector<std::string>* skipped) {
  return load(true, [&](staged_load& staged) -> std::optional<config_error> {
    if (from.config_text) {
      if (auto e = stage_config(staged, *from.config_text, from.config_name)) return e;
    }
    if (from.getenv) {
      if (auto e = stage_environment(staged, from.getenv)) return e;
    }
    if (from.registry) return stage_registry(staged, from.registry, skipped);
    return std::nullopt;
  });
}

std::vector<std::string> call_site_registry::sites() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> names;
  for (const site_entry& s : sites_) names.push_back(s.name);
  return names;
}

std::vector<std::string> call_site_registry::budgets() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, entry] : budgets_) names.push_back(name);
  return names;
}

std::vector<std::string> call_site_registry::breakers() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, entry] : breakers_) names.push_back(name);
  return names;
}

}  // namespace ipsec_retry::ipsec
