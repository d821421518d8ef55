// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "../nearest_word.hpp"
#include "../text.hpp"

namespace ipsec_retry::ipsec {
namespace {

class registry_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsec_retry.call_sites"; }
  std::string message(int value) const override {
    switch (static_cast<registry_errc>(value)) {
      case registry_errc::unknown_site:
        return "unknown call site";
      case registry_errc::duplicate_site:
        return "call site defined twice";
      case registry_errc::bad_site_name:
        return "bad call site name";
      case registry_errc::syntax:
        return "configuration syntax error";
      case registry_errc::bad_policy:
        return "bad policy for a call site";
      case registry_errc::unknown_budget:
        return "unknown retry budget";
      case registry_errc::duplicate_budget:
        return "retry budget defined twice";
      case registry_errc::bad_budget:
        return "bad retry budget";
    }
    return "call site error";
  }
};

using ipsec_retry::detail::is_blank;
using ipsec_retry::detail::trim;
using ipsec_retry::detail::trim_front;

// Site and budget names.
bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

constexpr std::string_view no_budget = "none";         // budget=none: no budget
constexpr std::string_view budget_keyword = "budget";  // "budget NAME: settings" lines
constexpr std::string_view site_name_rule = "a site name is letters, digits, '.', '_' and '-'";
constexpr std::string_view budget_name_rule =
    "a budget name is letters, digits, '.', '_' and '-', and not 'none'";

config_error error(registry_errc code, std::string source, std::string_view site,
                   const std::string& detail) {
  std::string message = source;
  if (!site.empty()) message += " (" + std::string(site) + ")";
  message += ": " + detail;
  return config_error{code, std::move(source), std::string(site), std::move(message)};
}

using ipsec_retry::detail::error_at;

// `e` with its column moved to `column` (its message starts "column N: " when it has one).
policy_error at_column(const policy_error& e, std::size_t column) {
  if (e.column == 0) return e;
  const std::size_t prefix = e.message.find(": ");
  return error_at(e.code, column, e.token,
                  prefix == std::string::npos ? e.message : e.message.substr(prefix + 2));
}

// The policy parser suggests policy keys; on a site's line "Budget=" or "budgte=" meant budget.
policy_error with_budget_hint(policy_error e) {
  if (e.code != policy_errc::unknown_key || e.column == 0) return e;
  std::string lower = e.token;
  for (char& c : lower) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  if (ipsec_retry::detail::edit_distance(lower, budget_keyword) > 2) return e;
  return error_at(e.code, e.column, e.token,
                  "unknown key '" + e.token + "' (did you mean 'budget'?)");
}

// What a site's text (a config line's right-hand side, or its environment variable) sets: its
// policy, and the budget it names with `budget=` (a registry key, not a policy key).
struct site_update {
  retry_policy policy;
  std::optional<std::string> budget;  // "" for budget=none; nullopt when not given
  std::size_t budget_column = 0;      // where the budget's name starts, from 1
};

// Parses a site's text on top of `base`; error columns count in `text`, from 1.
policy_result<site_update> parse_site_text(std::string_view text, const retry_policy& base) {
  site_update update;
  std::size_t cut_at = 0;  // the budget item and one separator next to it, cut from the text
  std::size_t cut_length = 0;
  std::optional<std::size_t> empty_item;  // the column of the first empty item, if any
  std::string empty_item_message;
  std::size_t pos = 0;
  std::size_t previous_separator = std::string_view::npos;
  while (true) {
    std::size_t end = text.find_first_of(",;", pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = trim(text.substr(pos, end - pos));
    const std::size_t eq = item.find('=');
    if (item.empty()) {
      // Point at the separator after it, or at the last one for a trailing separator.
      if (!empty_item && !(end == text.size() && pos == 0)) {
        empty_item = end < text.size() ? end + 1 : pos;
        empty_item_message = end < text.size() ? "empty item: expected key=value before '" +
                                                     std::string(1, text[end]) + "'"
                                               : "expected key=value after the last separator";
      }
    } else if (eq != std::string_view::npos && trim(item.substr(0, eq)) == budget_keyword) {
      const std::size_t item_column = static_cast<std::size_t>(item.data() - text.data()) + 1;
      if (update.budget) {
        return error_at(policy_errc::duplicate_key, item_column, budget_keyword,
                        "'budget' is given twice");
      }
      const std::string_view name = trim(item.substr(eq + 1));
      const std::size_t name_column = name.empty()
                                          ? item_column + eq + 1
                                          : static_cast<std::size_t>(name.data() - text.data()) + 1;
      if (name != no_budget && !valid_name(name)) {
        return error_at(
            policy_errc::bad_value, name_column, name,
            "bad value '" + std::string(name) +
                "' for 'budget': expected a budget's name (letters, digits, '.', '_', '-') or "
                "none");
      }
      update.budget = name == no_budget ? std::string() : std::string(name);
      update.budget_column = name_column;
      if (end < text.size()) {  // "budget=x, a=1": cut "budget=x,"
        cut_at = pos;
        cut_length = end + 1 - pos;
      } else if (previous_separator != std::string_view::npos) {  // "a=1, budget=x": ", budget=x"
        cut_at = previous_separator;
        cut_length = end - previous_separator;
      } else {  // "budget=x"
        cut_length = text.size();
      }
    }
    if (end == text.size()) break;
    previous_separator = end;
    pos = end + 1;
  }
  if (!update.budget) {
    auto parsed = retry_policy::parse(text, base);
    if (!parsed) return with_budget_hint(std::move(parsed).assume_error());
    update.policy = parsed.value();
    return update;
  }
  // Cutting the budget item must not hide junk the policy parser would have refused.
  if (empty_item) {
    return error_at(policy_errc::syntax, *empty_item, text.substr(*empty_item - 1, 1),
                    empty_item_message);
  }
  std::string rest(text.substr(0, cut_at));
  rest += text.substr(cut_at + cut_length);
  auto parsed = retry_policy::parse(rest, base);
  if (!parsed) {
    policy_error e = with_budget_hint(std::move(parsed).assume_error());
    const std::size_t column =
        e.column != 0 && e.column - 1 >= cut_at ? e.column + cut_length : e.column;
    return at_column(e, column);
  }
  update.policy = parsed.value();
  return update;
}

// Who already reads `variable`, as "site 'x'" or "budget 'y'"; empty when nobody does.
template <class Sites, class Budgets>
std::string reader_of(const std::string& variable, const Sites& sites, const Budgets& budgets) {
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
  return {};
}

template <class Budgets>
config_error unknown_budget(const Budgets& budgets, std::string_view name, std::string source,
                            std::string_view site, std::size_t column) {
  std::vector<std::string_view> names;
  for (const auto& [budget, entry] : budgets) names.push_back(budget);
  std::string detail = "unknown budget '" + std::string(name) + "' (";
  if (names.empty()) {
    detail += "no budget is defined: add a line 'budget " + std::string(name) +
              ": max_tokens=10, token_ratio=0.1' or call define_budget())";
  } else {
    detail += "did you mean '" + std::string(ipsec_retry::detail::nearest_word(name, names)) +
              "'? budgets come from 'budget NAME: ...' lines or define_budget())";
  }
  if (column != 0) detail = "column " + std::to_string(column) + ": " + detail;
  return error(registry_errc::unknown_budget, std::move(source), site, detail);
}

}  // namespace

// A load in progress: copies of what it may change, committed only if all of it is valid.
struct call_site_registry::staged_load {
  struct budget_settings {
    retry_budget::settings default_settings;
    retry_budget::settings current;  // what the budget has now (it may have been reconfigured
                                     // directly), or what this load gives it
    bool given = false;              // this load sets it: commit applies `current`
  };
  site_list sites;
  std::map<std::string, budget_settings, std::less<>> budgets;

  explicit staged_load(const call_site_registry& registry) : sites(registry.sites_) {
    for (const auto& [name, entry] : registry.budgets_) {
      budgets.emplace(name,
                      budget_settings{entry.default_settings, entry.budget->current_settings()});
    }
  }
};

const std::error_category& registry_category() noexcept {
  static const registry_category_impl instance;
  return instance;
}

void outcome_throw_as_system_error_with_payload(const config_error& e) {
  throw std::system_error(make_error_code(e.code), e.message);
}

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

call_site_registry::call_site_registry() {
  for (auto kind : {policy_kind::quick_mode, policy_kind::main_mode}) {
    for (auto op : {policy_operation::add, policy_operation::set, policy_operation::remove}) {
      const retry_policy& p = builtin_policy(op);
      sites_.push_back(site_entry{std::string(site_name(kind, op)), p, p, {}, {}});
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

namespace {

// `where`: "column N: " when the name stands in a configuration line.
template <class Sites>
config_error unknown_site(const Sites& sites, std::string_view name, std::string source,
                          const std::string& where = {}) {
  std::vector<std::string_view> names;
  for (const auto& s : sites) names.push_back(s.name);
  return error(registry_errc::unknown_site, std::move(source), name,
               where + "unknown call site '" + std::string(name) + "' (did you mean '" +
                   std::string(ipsec_retry::detail::nearest_word(name, names)) +
                   "'? hosts add their own sites with define())");
}

}  // namespace

config_result<void> call_site_registry::define(std::string_view name,
                                               const retry_policy& default_policy) {
  if (!valid_name(name)) {
    return error(registry_errc::bad_site_name, "define", name, std::string(site_name_rule));
  }
  std::unique_lock lock(mutex_);
  if (find(sites_, name) != nullptr) {
    return error(registry_errc::duplicate_site, "define", name, "this site is already defined");
  }
  // "qm.delete", "qm_delete" and "QM.DELETE" would all read IPSEC_RETRY_QM_DELETE.
  const std::string variable = environment_variable(name);
  if (const std::string reader = reader_of(variable, sites_, budgets_); !reader.empty()) {
    return error(registry_errc::duplicate_site, "define", name,
                 "its environment variable " + variable + " is already that of " + reader);
  }
  const auto at =
      std::lower_bound(sites_.begin(), sites_.end(), name,
                       [](const site_entry& s, std::string_view n) { return s.name < n; });
  sites_.insert(at, site_entry{std::string(name), default_policy, default_policy, {}, {}});
  return outcome::success();
}

config_result<retry_policy> call_site_registry::policy(std::string_view name) const {
  std::shared_lock lock(mutex_);
  if (const site_entry* s = find(sites_, name)) return s->current;
  return unknown_site(sites_, name, "lookup");
}

config_result<call_site> call_site_registry::site(std::string_view name) const {
  std::shared_lock lock(mutex_);
  const site_entry* s = find(sites_, name);
  if (s == nullptr) return unknown_site(sites_, name, "lookup");
  retry_budget* budget = nullptr;
  if (!s->current_budget.empty()) budget = budgets_.find(s->current_budget)->second.budget.get();
  return call_site{s->current, budget};
}

config_result<void> call_site_registry::define_budget(std::string_view name,
                                                      const retry_budget::settings& settings) {
  const std::string label = std::string(budget_keyword) + " " + std::string(name);
  if (!valid_name(name) || name == no_budget) {
    return error(registry_errc::bad_budget, "define_budget", label, std::string(budget_name_rule));
  }
  auto valid = retry_budget::make(settings);
  if (!valid) {
    return error(registry_errc::bad_budget, "define_budget", label, valid.error().message);
  }
  std::unique_lock lock(mutex_);
  if (budgets_.find(name) != budgets_.end()) {
    return error(registry_errc::duplicate_budget, "define_budget", label,
                 "this budget is already defined");
  }
  const std::string variable = budget_environment_variable(name);
  if (const std::string reader = reader_of(variable, sites_, budgets_); !reader.empty()) {
    return error(registry_errc::duplicate_budget, "define_budget", label,
                 "its environment variable " + variable + " is already that of " + reader);
  }
  budgets_.emplace(std::string(name),
                   budget_entry{settings, std::make_unique<retry_budget>(settings)});
  return outcome::success();
}

config_result<void> call_site_registry::attach_budget(std::string_view site,
                                                      std::string_view budget) {
  std::unique_lock lock(mutex_);
  site_entry* s = find(sites_, site);
  if (s == nullptr) return unknown_site(sites_, site, "attach_budget");
  if (budget == no_budget) budget = {};
  if (!budget.empty() && budgets_.find(budget) == budgets_.end()) {
    return unknown_budget(budgets_, budget, "attach_budget", site, 0);
  }
  s->default_budget = std::string(budget);
  s->current_budget = s->default_budget;
  return outcome::success();
}

config_result<retry_budget*> call_site_registry::budget(std::string_view name) const {
  std::shared_lock lock(mutex_);
  const auto it = budgets_.find(name);
  if (it == budgets_.end()) return unknown_budget(budgets_, name, "lookup", {}, 0);
  return it->second.budget.get();
}

void call_site_registry::commit(staged_load& staged) {
  // Everything that allocates comes first, so running out of memory changes nothing.
  budget_map created;
  for (const auto& [name, settings] : staged.budgets) {
    if (budgets_.find(name) == budgets_.end()) {
      created.emplace(name, budget_entry{settings.default_settings,
                                         std::make_unique<retry_budget>(settings.current)});
    }
  }
  for (auto& [name, settings] : staged.budgets) {
    const auto it = budgets_.find(name);
    if (it == budgets_.end()) continue;
    it->second.default_settings = settings.default_settings;
    if (settings.given) it->second.budget->reconfigure(settings.current);
  }
  budgets_.merge(created);  // moves the nodes: no allocation
  sites_ = std::move(staged.sites);
}

config_result<void> call_site_registry::load_config(std::string_view text) {
  std::unique_lock lock(mutex_);
  staged_load staged(*this);  // all-or-nothing
  struct budget_reference {   // checked once every line is read: a budget may come later
    std::string source;
    std::string site;
    std::string budget;
    std::size_t column;
  };
  std::vector<budget_reference> references;
  std::vector<std::pair<std::string, std::size_t>> seen;  // site / "budget NAME", its line
  std::size_t line_number = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 BOM (Notepad)
  while (!text.empty() || line_number == 0) {
    ++line_number;
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::size_t line_indent = line.size() - trim_front(line).size();
    line = trim(line);
    if (line.empty()) {
      if (text.empty()) break;
      continue;
    }
    const std::string source = "line " + std::to_string(line_number);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return error(registry_errc::syntax, source, {},
                   "column " + std::to_string(line_indent + line.size() + 1) +
                       ": expected ':' after the site name: 'site: policy' or 'budget NAME: "
                       "settings', e.g. "
                       "'qm.delete: timeout=60s', got '" +
                       std::string(line) + "'");
    }
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view rhs = line.substr(colon + 1);
    // A column of the right-hand side as a column of the whole line.
    const auto in_line = [&](std::size_t column) { return line_indent + colon + 1 + column; };
    const bool is_budget_line = name.size() > budget_keyword.size() &&
                                name.substr(0, budget_keyword.size()) == budget_keyword &&
                                is_blank(name[budget_keyword.size()]);
    const std::string label = is_budget_line
                                  ? std::string(budget_keyword) + " " +
                                        std::string(trim(name.substr(budget_keyword.size())))
                                  : std::string(name);
    const auto earlier = std::find_if(seen.begin(), seen.end(),
                                      [&](const auto& entry) { return entry.first == label; });
    if (earlier != seen.end()) {
      return error(is_budget_line ? registry_errc::duplicate_budget : registry_errc::duplicate_site,
                   source, label,
                   "column " + std::to_string(line_indent + 1) + ": this " +
                       (is_budget_line ? "budget" : "site") + " already appeared on line " +
                       std::to_string(earlier->second));
    }

    if (is_budget_line) {
      const std::string_view budget = trim(name.substr(budget_keyword.size()));
      if (!valid_name(budget) || budget == no_budget) {
        return error(registry_errc::bad_budget, source, label, std::string(budget_name_rule));
      }
      auto entry = staged.budgets.find(budget);
      if (entry == staged.budgets.end()) {
        const std::string variable = budget_environment_variable(budget);
        if (const std::string reader = reader_of(variable, staged.sites, staged.budgets);
            !reader.empty()) {
          return error(registry_errc::duplicate_budget, source, label,
                       "its environment variable " + variable + " is already that of " + reader);
        }
        entry = staged.budgets.emplace(std::string(budget), staged_load::budget_settings{}).first;
      }
      auto parsed = retry_budget::parse(rhs, entry->second.default_settings);
      if (!parsed) {
        const policy_error e = at_column(parsed.error(), in_line(parsed.error().column));
        return error(registry_errc::bad_budget, source, label, e.message);
      }
      entry->second.current = parsed.value();
      entry->second.given = true;
    } else {
      if (!valid_name(name))
        return error(registry_errc::bad_site_name, source, name, std::string(site_name_rule));
      site_entry* target = find(staged.sites, name);
      if (target == nullptr) {
        return unknown_site(staged.sites, name, source,
                            "column " + std::to_string(line_indent + 1) + ": ");
      }
      auto parsed = parse_site_text(rhs, target->default_policy);
      if (!parsed) {
        // Report the column within the line, not within the policy text after the ':'.
        const policy_error e = at_column(parsed.error(), in_line(parsed.error().column));
        return error(registry_errc::bad_policy, source, name, e.message);
      }
      site_update& update = parsed.value();
      target->current = update.policy;
      target->current_budget = update.budget ? *update.budget : target->default_budget;
      if (update.budget && !update.budget->empty()) {
        references.push_back(
            {source, std::string(name), *update.budget, in_line(update.budget_column)});
      }
    }
    seen.emplace_back(label, line_number);
    if (text.empty()) break;
  }
  for (const budget_reference& r : references) {
    if (staged.budgets.find(r.budget) == staged.budgets.end()) {
      return unknown_budget(staged.budgets, r.budget, r.source, r.site, r.column);
    }
  }
  commit(staged);
  return outcome::success();
}

namespace {

// IPSEC_RETRY_ + `prefix` + the name upper-cased, with '.' and '-' as '_'.
std::string variable_name(std::string_view prefix, std::string_view name) {
  std::string variable = "IPSEC_RETRY_";
  variable += prefix;
  for (char c : name) {
    if (c >= 'a' && c <= 'z') {
      variable += static_cast<char>(c - 'a' + 'A');
    } else if (c == '.' || c == '-') {
      variable += '_';
    } else {
      variable += c;
    }
  }
  return variable;
}

}  // namespace

std::string call_site_registry::environment_variable(std::string_view name) {
  return variable_name("", name);
}

std::string call_site_registry::budget_environment_variable(std::string_view name) {
  return variable_name("BUDGET_", name);
}

config_result<void> call_site_registry::load_environment() {
  return load_environment(
      [](const char* variable) -> const char* { return std::getenv(variable); });
}

config_result<void> call_site_registry::load_environment(const getenv_function& getenv) {
  std::unique_lock lock(mutex_);
  staged_load staged(*this);
  for (site_entry& s : staged.sites) {
    const std::string variable = environment_variable(s.name);
    const char* value = getenv(variable.c_str());
    if (value == nullptr) continue;
    auto parsed = parse_site_text(value, s.current);
    if (!parsed) return error(registry_errc::bad_policy, variable, s.name, parsed.error().message);
    const site_update& update = parsed.value();
    if (update.budget && !update.budget->empty() &&
        staged.budgets.find(*update.budget) == staged.budgets.end()) {
      return unknown_budget(staged.budgets, *update.budget, variable, s.name, update.budget_column);
    }
    s.current = update.policy;
    if (update.budget) s.current_budget = *update.budget;
  }
  for (auto& [name, settings] : staged.budgets) {
    const std::string variable = budget_environment_variable(name);
    const char* value = getenv(variable.c_str());
    if (value == nullptr) continue;
    auto parsed = retry_budget::parse(value, settings.current);
    if (!parsed) {
      return error(registry_errc::bad_budget, variable, std::string(budget_keyword) + " " + name,
                   parsed.error().message);
    }
    settings.current = parsed.value();
    settings.given = true;
  }
  commit(staged);
  return outcome::success();
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

}  // namespace ipsec_retry::ipsec
