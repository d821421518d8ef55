// SPDX-License-Identifier: BSL-1.0
// The call-site configuration's text (src/ipsec/call_site_config.hpp): lines, a site's text,
// and the registry's errors. Nothing here reads or changes a registry.
#include "call_site_config.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "../key_value.hpp"
#include "../nearest_word.hpp"
#include "../policy_rules.hpp"
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
      case registry_errc::unknown_breaker:
        return "unknown circuit breaker";
      case registry_errc::duplicate_breaker:
        return "circuit breaker defined twice";
      case registry_errc::bad_breaker:
        return "bad circuit breaker";
      case registry_errc::bad_value_type:
        return "registry value of the wrong type";
      case registry_errc::unreadable_source:
        return "configuration source could not be read";
    }
    return "call site error";
  }
};

using ipsec_retry::detail::is_blank;
using ipsec_retry::detail::kv_item;
using ipsec_retry::detail::maybe_error;
using ipsec_retry::detail::trim;
using ipsec_retry::detail::trim_front;

// budget= and breaker= on a site's text.
template <std::optional<std::string> detail::site_update::*Name,
          std::size_t detail::site_update::*Column>
maybe_error parse_guard_name(detail::site_update& u, const kv_item& item) {
  if (item.value != detail::none_name && !detail::valid_name(item.value)) {
    return ipsec_retry::detail::bad_value(
        policy_errc::bad_value, item,
        "a " + std::string(item.key) + "'s name (letters, digits, '.', '_', '-') or none");
  }
  u.*Name = item.value == detail::none_name ? std::string() : std::string(item.value);
  u.*Column = item.value_column;
  return std::nullopt;
}
bool format_nothing(const detail::site_update&, std::string&) {
  return false;  // a site's text is never written back: its policy is, by retry_policy
}

const std::array<ipsec_retry::detail::key_rule<detail::site_update>, 2> site_keys = {{
    {"budget", parse_guard_name<&detail::site_update::budget, &detail::site_update::budget_column>,
     format_nothing},
    {"breaker",
     parse_guard_name<&detail::site_update::breaker, &detail::site_update::breaker_column>,
     format_nothing},
}};
constexpr std::array<std::string_view, 2> site_key_names = {"budget", "breaker"};

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

std::string call_site_registry::breaker_environment_variable(std::string_view name) {
  return variable_name("BREAKER_", name);
}

const std::error_category& registry_category() noexcept {
  static const registry_category_impl instance;
  return instance;
}

std::string config_error::message() const {
  std::string out = source;
  if (!site.empty()) out += " (" + site + ")";
  out += ": ";
  if (text) return out + text->message();
  if (column != 0) out += "column " + std::to_string(column) + ": ";
  return out + problem;
}

void outcome_throw_as_system_error_with_payload(const config_error& e) {
  throw std::system_error(make_error_code(e.code), e.message());
}

namespace detail {

bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string_view keyword(line_kind kind) noexcept {
  switch (kind) {
    case line_kind::budget:
      return "budget";
    case line_kind::breaker:
      return "breaker";
    case line_kind::site:
      break;
  }
  return {};
}

config_error error(registry_errc code, const std::string& source, std::string_view site,
                   std::string problem, std::size_t column) {
  config_error e{};
  e.code = code;
  e.source = source;
  e.site = std::string(site);
  e.column = column;
  e.problem = std::move(problem);
  return e;
}

config_error text_error(registry_errc code, const std::string& source, std::string_view site,
                        policy_error text) {
  config_error e{};
  e.code = code;
  e.source = source;
  e.site = std::string(site);
  e.column = text.column;
  e.key = text.key;
  e.text = std::move(text);
  return e;
}

policy_error in_line(policy_error e, std::size_t first_column) {
  if (e.column != 0) e.column += first_column - 1;
  if (e.first_column != 0) e.first_column += first_column - 1;
  return e;
}

config_error unknown_site(std::span<const std::string_view> names, std::string_view name,
                          const std::string& source, std::size_t column) {
  return error(registry_errc::unknown_site, source, name,
               "unknown call site '" + std::string(name) + "' (did you mean '" +
                   std::string(ipsec_retry::detail::nearest_word(name, names)) +
                   "'? hosts add their own sites with define())",
               column);
}

config_error unknown_guard(line_kind kind, std::span<const std::string_view> names,
                           std::string_view name, const std::string& source, std::string_view site,
                           std::size_t column) {
  const std::string noun(keyword(kind));
  const std::string define = "define_" + noun + "()";
  std::string problem = "unknown " + noun + " '" + std::string(name) + "' (";
  if (names.empty()) {
    const std::string sample = kind == line_kind::budget
                                   ? retry_budget::format(retry_budget::settings{})
                                   : circuit_breaker::format(circuit_breaker::settings{});
    problem += "no " + noun + " is defined: add a line '" + noun + " " + std::string(name) + ": " +
               sample + "' or call " + define + ")";
  } else {
    problem += "did you mean '" + std::string(ipsec_retry::detail::nearest_word(name, names)) +
               "'? " + noun + "s come from '" + noun + " NAME: ...' lines or " + define + ")";
  }
  config_error e = error(
      kind == line_kind::budget ? registry_errc::unknown_budget : registry_errc::unknown_breaker,
      source, site, std::move(problem), column);
  e.key = noun;
  return e;
}

policy_result<site_update> parse_site_text(std::string_view text, const retry_policy& base,
                                           std::size_t first_column) {
  auto items = ipsec_retry::detail::tokenize(text, first_column);
  if (!items) return std::move(items).assume_error();
  // budget= and breaker= are the registry's; every other item is the policy's.
  ipsec_retry::detail::kv_items guard_items;
  ipsec_retry::detail::kv_items policy_items;
  for (const kv_item& item : items.value()) {
    const bool ours =
        std::find(site_key_names.begin(), site_key_names.end(), item.key) != site_key_names.end();
    (ours ? guard_items : policy_items).push_back(item);
  }
  site_update update;
  ipsec_retry::detail::key_columns<site_keys.size()> seen{};
  if (auto e = ipsec_retry::detail::parse_items(guard_items, site_keys, "", {}, update, seen)) {
    return std::move(*e);
  }
  auto policy =
      ipsec_retry::detail::parse_policy_items(policy_items, base.settings(), site_key_names);
  if (!policy) return std::move(policy).assume_error();
  update.policy = policy.value();
  return update;
}

config_reader::config_reader(std::string_view text, std::string_view source_name)
    : rest_(text), source_name_(source_name) {
  if (rest_.substr(0, 3) == "\xEF\xBB\xBF") rest_.remove_prefix(3);  // a UTF-8 BOM (Notepad)
}

std::optional<config_result<config_line>> config_reader::next() {
  while (!rest_.empty() || number_ == 0) {
    ++number_;
    const std::size_t newline = rest_.find('\n');
    std::string_view line = rest_.substr(0, newline);
    rest_ = newline == std::string_view::npos ? std::string_view{} : rest_.substr(newline + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::size_t indent = line.size() - trim_front(line).size();
    line = trim(line);
    if (line.empty()) continue;

    config_line out;
    out.number = number_;
    out.source = source_name_.empty() ? "line " + std::to_string(number_)
                                      : source_name_ + ":" + std::to_string(number_);
    out.name_column = indent + 1;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      config_error e = error(registry_errc::syntax, out.source, {},
                             "expected ':' after the site name: 'site: policy' or 'budget NAME: "
                             "settings', e.g. 'qm.delete: timeout=60s', got '" +
                                 std::string(line) + "'",
                             indent + line.size() + 1);
      e.line = number_;
      return e;
    }
    const std::string_view name = trim(line.substr(0, colon));
    out.settings = line.substr(colon + 1);
    out.settings_column = indent + colon + 2;
    for (line_kind kind : {line_kind::budget, line_kind::breaker}) {
      const std::string_view word = keyword(kind);
      if (name.size() > word.size() && name.substr(0, word.size()) == word &&
          is_blank(name[word.size()])) {
        out.kind = kind;
        out.name = trim(name.substr(word.size()));
        out.label = std::string(word) + " " + std::string(out.name);
      }
    }
    if (out.kind == line_kind::site) {
      out.name = name;
      out.label = std::string(name);
    }
    const std::string_view noun = out.kind == line_kind::site ? "site" : keyword(out.kind);
    const auto earlier = std::find_if(seen_.begin(), seen_.end(),
                                      [&](const auto& entry) { return entry.first == out.label; });
    if (earlier != seen_.end()) {
      const registry_errc code = out.kind == line_kind::budget    ? registry_errc::duplicate_budget
                                 : out.kind == line_kind::breaker ? registry_errc::duplicate_breaker
                                                                  : registry_errc::duplicate_site;
      config_error e = error(code, out.source, out.label,
                             "this " + std::string(noun) + " already appeared on line " +
                                 std::to_string(earlier->second),
                             out.name_column);
      e.line = number_;
      return e;
    }
    const bool reserved = out.kind != line_kind::site && out.name == none_name;
    if (!valid_name(out.name) || reserved) {
      const registry_errc code = out.kind == line_kind::budget    ? registry_errc::bad_budget
                                 : out.kind == line_kind::breaker ? registry_errc::bad_breaker
                                                                  : registry_errc::bad_site_name;
      config_error e =
          error(code, out.source, out.label,
                "a " + std::string(noun) + " name is letters, digits, '.', '_' and '-'" +
                    (out.kind == line_kind::site ? "" : ", and not 'none'"));
      e.line = number_;
      return e;
    }
    seen_.emplace_back(out.label, number_);
    return out;
  }
  return std::nullopt;
}

}  // namespace detail
}  // namespace ipsec_retry::ipsec
