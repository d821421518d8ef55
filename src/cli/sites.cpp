// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry sites`: every call site's effective policy, budget and breaker on this host, and
// the sources that set them (docs/cli.md, "sites").
#include <algorithm>
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "host_sites.hpp"
#include "json.hpp"

namespace ipsec_retry::cli {
namespace {

using site_description = ipsec::call_site_registry::site_description;
using guard_description = ipsec::call_site_registry::guard_description;

// Where a setting came from: its sources, lowest first, or "default".
std::string sources_text(const std::vector<std::string>& sources) {
  if (sources.empty()) return "default";
  std::string text;
  for (const std::string& source : sources) {
    if (!text.empty()) text += ", ";
    text += source;
  }
  return text;
}

std::string guard_text(const std::string& name) {
  return name.empty() ? "none" : name;
}

void write_sources(json_writer& json, const std::vector<std::string>& sources) {
  // "source": the one that set it last (what an operator looks for); "sources": all of them.
  json.field("source", sources.empty() ? std::string("default") : sources.back());
  json.key("sources").begin_array();
  for (const std::string& source : sources) json.value(source);
  json.end_array();
}

std::optional<std::string> guard_or_null(const std::string& name) {
  if (name.empty()) return std::nullopt;
  return name;
}

void write_json(const std::vector<site_description>& sites,
                const std::vector<guard_description>& budgets,
                const std::vector<guard_description>& breakers, std::ostream& out) {
  json_writer json(out);
  json.begin_object().key("sites").begin_array();
  for (const site_description& site : sites) {
    json.begin_object()
        .field("name", site.name)
        .field("policy", site.policy.format())
        .field("budget", guard_or_null(site.budget))
        .field("breaker", guard_or_null(site.breaker));
    write_sources(json, site.sources);
    json.end_object();
  }
  json.end_array();
  for (const auto& [key, guards] : {std::pair{"budgets", &budgets}, {"breakers", &breakers}}) {
    json.key(key).begin_array();
    for (const guard_description& guard : *guards) {
      json.begin_object().field("name", guard.name).field("settings", guard.settings);
      write_sources(json, guard.sources);
      json.end_object();
    }
    json.end_array();
  }
  json.end_object();
  out << '\n';
}

void pad(std::ostream& out, const std::string& text, std::size_t width) {
  out << text << std::string(width > text.size() ? width - text.size() : 1, ' ');
}

// One line per site (name, budget, breaker, sources), its policy indented on the next; then the
// budgets and breakers, one line each.
void write_table(const std::vector<site_description>& sites,
                 const std::vector<guard_description>& budgets,
                 const std::vector<guard_description>& breakers, std::ostream& out) {
  std::size_t name_width = 4;
  std::size_t budget_width = 6;
  std::size_t breaker_width = 7;
  for (const site_description& site : sites) {
    name_width = std::max(name_width, site.name.size());
    budget_width = std::max(budget_width, guard_text(site.budget).size());
    breaker_width = std::max(breaker_width, guard_text(site.breaker).size());
  }
  pad(out, "SITE", name_width + 2);
  pad(out, "BUDGET", budget_width + 2);
  pad(out, "BREAKER", breaker_width + 2);
  out << "SOURCE\n";
  for (const site_description& site : sites) {
    pad(out, site.name, name_width + 2);
    pad(out, guard_text(site.budget), budget_width + 2);
    pad(out, guard_text(site.breaker), breaker_width + 2);
    out << sources_text(site.sources) << "\n    " << site.policy.format() << '\n';
  }
  for (const auto& [title, guards] : {std::pair{"BUDGET", &budgets}, {"BREAKER", &breakers}}) {
    out << '\n';
    std::size_t width = 7;
    for (const guard_description& guard : *guards) width = std::max(width, guard.name.size());
    if (guards->empty()) {
      out << "(no " << (guards == &budgets ? "budgets" : "breakers") << ")\n";
      continue;
    }
    pad(out, title, width + 2);
    out << "SOURCE  SETTINGS\n";
    for (const guard_description& guard : *guards) {
      pad(out, guard.name, width + 2);
      out << sources_text(guard.sources) << "  " << guard.settings << '\n';
    }
  }
}

}  // namespace

int run_sites(const sites_args& args, std::ostream& out, std::ostream& err) {
  ipsec::call_site_registry sites;
  if (!load_host_sites(sites, {args.config, !args.no_env}, "sites", err)) return exit_bad_input;
  const auto described = sites.describe_sites();
  const auto budgets = sites.describe_budgets();
  const auto breakers = sites.describe_breakers();
  if (args.json) {
    write_json(described, budgets, breakers, out);
  } else {
    write_table(described, budgets, breakers, out);
  }
  return exit_ok;
}

}  // namespace ipsec_retry::cli
