// SPDX-License-Identifier: BSL-1.0
// Per-call-site retry limits from a configuration text and the environment.
//
// A host names each place it calls the Policy Agent (the library's own sites are qm.add,
// qm.set, qm.delete, mm.add, mm.set, mm.delete; a host adds its own), keeps the limits in its
// config file, and lets operators override one site with an environment variable. Sites that
// talk to the same agent share a named retry budget, so a storm of retries against a busy agent
// is cut short whichever site it comes from.
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <iostream>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;

int main() {
  ipsec::call_site_registry sites;

  // A site of the host's own, with its default.
  const auto filter_default = ir::retry_policy::parse("timeout=10s, initial=5ms").value();
  if (auto defined = sites.define("wfp.add_filter", filter_default); !defined) {
    std::cerr << defined.error().message() << '\n';
    return 1;
  }

  // The host's config file. Keys a line gives override that site's default; the rest stay.
  const char* config =
      "# ipsec_retry.conf\n"
      "budget agent: max_tokens=10, token_ratio=0.1\n"
      "qm.delete: timeout=60s, attempts=50, budget=agent\n"
      "qm.add:    initial=10ms, jitter=none, budget=agent\n"
      "wfp.add_filter: retry_on=ERROR_ACCESS_DENIED   # this host's filters race a GPO refresh\n";
  if (auto loaded = sites.load_config(config); !loaded) {
    std::cerr << loaded.error().message() << '\n';
    return 1;
  }

  // Operators can override a site without touching the file, e.g.
  //   IPSEC_RETRY_QM_DELETE="timeout=90s" ./per_call_site_config
  if (auto env = sites.load_environment(); !env) {
    std::cerr << env.error().message() << '\n';
    return 1;
  }

  // Operators can also re-tune a budget: IPSEC_RETRY_BUDGET_AGENT="max_tokens=20".
  const ir::retry_budget* agent_budget = sites.budget("agent").value();
  for (const std::string& name : sites.sites()) {
    const ipsec::call_site site = sites.site(name).value();
    std::cout << name << ": " << site.policy.format();
    if (site.budget == agent_budget) std::cout << "  [budget agent]";
    std::cout << '\n';
  }
  const auto budget = agent_budget->current_settings();
  std::cout << "budget agent: max_tokens=" << budget.max_tokens
            << ", token_ratio=" << budget.token_ratio << ", shared by the sites marked\n";

  // Mistakes are reported with the line and the site, and change nothing.
  const auto bad = sites.load_config("qm.delete: timeout=60s\nqm.add: atempts=5\n");
  std::cout << "\nA bad config is refused:\n  " << bad.error().message() << '\n';
  const auto typo = sites.policy("qm.delet");
  std::cout << "A misspelt site is refused:\n  " << typo.error().message() << '\n';
  const auto no_budget = sites.load_config("mm.delete: budget=agnet\n");
  std::cout << "A misspelt budget is refused:\n  " << no_budget.error().message() << '\n';
  return bad || typo || no_budget ? 1 : 0;
}
