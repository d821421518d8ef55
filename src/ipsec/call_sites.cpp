#include <ipsec_retry/ipsec/call_sites.hpp>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "../nearest_word.hpp"

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
    }
    return "call site error";
  }
};

constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim_front(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool valid_site_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

config_error error(registry_errc code, std::string source, std::string_view site,
                   const std::string& detail) {
  std::string message = source;
  if (!site.empty()) message += " (" + std::string(site) + ")";
  message += ": " + detail;
  return config_error{code, std::move(source), std::string(site), std::move(message)};
}

}  // namespace

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
      sites_.push_back(site{std::string(site_name(kind, op)), p, p});
    }
  }
  std::sort(sites_.begin(), sites_.end(),
            [](const site& a, const site& b) { return a.name < b.name; });
}

call_site_registry::site* call_site_registry::find(std::vector<site>& sites,
                                                   std::string_view name) {
  const auto it = std::lower_bound(sites.begin(), sites.end(), name,
                                   [](const site& s, std::string_view n) { return s.name < n; });
  return it != sites.end() && it->name == name ? &*it : nullptr;
}

const call_site_registry::site* call_site_registry::find(const std::vector<site>& sites,
                                                         std::string_view name) {
  return find(const_cast<std::vector<site>&>(sites), name);
}

config_error call_site_registry::unknown(const std::vector<site>& sites, std::string_view name,
                                         std::string source) {
  std::vector<std::string_view> names;
  for (const site& s : sites) names.push_back(s.name);
  return error(registry_errc::unknown_site, std::move(source), name,
               "unknown call site '" + std::string(name) + "' (did you mean '" +
                   std::string(ipsec_retry::detail::nearest_word(name, names)) +
                   "'? hosts add their own sites with define())");
}

config_result<void> call_site_registry::define(std::string_view name,
                                               const retry_policy& default_policy) {
  if (!valid_site_name(name)) {
    return error(registry_errc::bad_site_name, "define", name,
                 "a site name is letters, digits, '.', '_' and '-'");
  }
  std::unique_lock lock(mutex_);
  if (find(sites_, name) != nullptr) {
    return error(registry_errc::duplicate_site, "define", name, "this site is already defined");
  }
  // "qm.delete", "qm_delete" and "QM.DELETE" would all read IPSEC_RETRY_QM_DELETE.
  const std::string variable = environment_variable(name);
  for (const site& s : sites_) {
    if (environment_variable(s.name) == variable) {
      return error(
          registry_errc::duplicate_site, "define", name,
          "its environment variable " + variable + " is already that of site '" + s.name + "'");
    }
  }
  const auto at = std::lower_bound(sites_.begin(), sites_.end(), name,
                                   [](const site& s, std::string_view n) { return s.name < n; });
  sites_.insert(at, site{std::string(name), default_policy, default_policy});
  return outcome::success();
}

config_result<retry_policy> call_site_registry::policy(std::string_view name) const {
  std::shared_lock lock(mutex_);
  if (const site* s = find(sites_, name)) return s->current;
  return unknown(sites_, name, "lookup");
}

config_result<void> call_site_registry::load_config(std::string_view text) {
  std::unique_lock lock(mutex_);
  std::vector<site> staged = sites_;  // all-or-nothing
  std::vector<std::string> seen;
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
                   "expected 'site: policy', e.g. 'qm.delete: timeout=60s', got '" +
                       std::string(line) + "'");
    }
    const std::string_view name = trim(line.substr(0, colon));
    if (!valid_site_name(name)) {
      return error(registry_errc::bad_site_name, source, name,
                   "a site name is letters, digits, '.', '_' and '-'");
    }
    site* target = find(staged, name);
    if (target == nullptr) return unknown(staged, name, source);
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return error(registry_errc::duplicate_site, source, name,
                   "this site already appeared on an earlier line");
    }
    seen.emplace_back(name);
    auto parsed = retry_policy::parse(line.substr(colon + 1), target->default_policy);
    if (!parsed) {
      // Report the column within the line, not within the policy text after the ':'.
      const policy_error& e = parsed.error();
      std::string detail = e.message;
      if (e.column != 0) {
        const std::size_t column = line_indent + colon + 1 + e.column;
        detail = "column " + std::to_string(column) + detail.substr(detail.find(':'));
      }
      return error(registry_errc::bad_policy, source, name, detail);
    }
    target->current = parsed.value();
    if (text.empty()) break;
  }
  sites_ = std::move(staged);
  return outcome::success();
}

std::string call_site_registry::environment_variable(std::string_view name) {
  std::string variable = "IPSEC_RETRY_";
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

config_result<void> call_site_registry::load_environment() {
  return load_environment(
      [](const char* variable) -> const char* { return std::getenv(variable); });
}

config_result<void> call_site_registry::load_environment(const getenv_function& getenv) {
  std::unique_lock lock(mutex_);
  std::vector<site> staged = sites_;
  for (site& s : staged) {
    const std::string variable = environment_variable(s.name);
    const char* value = getenv(variable.c_str());
    if (value == nullptr) continue;
    auto parsed = retry_policy::parse(value, s.current);
    if (!parsed) return error(registry_errc::bad_policy, variable, s.name, parsed.error().message);
    s.current = parsed.value();
  }
  sites_ = std::move(staged);
  return outcome::success();
}

std::vector<std::string> call_site_registry::sites() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> names;
  for (const site& s : sites_) names.push_back(s.name);
  return names;
}

}  // namespace ipsec_retry::ipsec
