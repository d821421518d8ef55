// SPDX-License-Identifier: BSL-1.0
#include "admx_template.hpp"

#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <array>
#include <string_view>
#include <vector>

namespace ipsec_retry::admx {
namespace {

// The release that first read these registry values (the supportedOn definition names it).
constexpr std::string_view supported_on = "SUPPORTED_IpsecRetry_0_2";

// One policy of the template.
struct policy_entry {
  std::string id;            // the policy's name, also its string and presentation ids
  std::string category;      // IpsecRetry_Sites or IpsecRetry_Guards
  std::string subkey;        // Sites, Budgets or Breakers
  std::string value_name;    // the value a text policy writes; "" for a list
  std::string display;       // the name the editor shows
  std::string explain;       // the help text
  std::string label;         // the text box's (list's) label
  std::string default_text;  // what the text box starts with
};

std::string xml_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string key_of(std::string_view subkey) {
  return std::string(ipsec::group_policy_key) + "\\" + std::string(subkey);
}

// "qm.delete" -> "Site_qm_delete": policy names are identifiers.
std::string identifier(std::string_view prefix, std::string_view name) {
  std::string id(prefix);
  for (char c : name) id += (c == '.' || c == '-') ? '_' : c;
  return id;
}

// What a built-in site covers: the winipsec function ("DeleteQMPolicy") and in words
// ("deleting a quick-mode (QM) policy").
struct site_words {
  std::string function, action;
};
site_words site_meaning(std::string_view site) {
  struct object_words {
    std::string_view prefix, stem, noun;
  };
  static constexpr std::array<object_words, 6> objects{{
      {"qm", "QMPolicy", "a quick-mode (QM) policy"},
      {"mm", "MMPolicy", "a main-mode (MM) policy"},
      {"mm_auth", "MMAuthMethods", "main-mode authentication methods"},
      {"transport_filter", "TransportFilter", "a transport filter"},
      {"tunnel_filter", "TunnelFilter", "a tunnel filter"},
      {"mm_filter", "MMFilter", "a main-mode (MM) filter"},
  }};
  const auto dot = site.find('.');
  const std::string_view prefix = site.substr(0, dot);
  const std::string_view op = dot == std::string_view::npos ? "" : site.substr(dot + 1);
  for (const object_words& o : objects) {
    if (o.prefix != prefix) continue;
    const std::string stem(o.stem), noun(o.noun);
    if (op == "add") return {"Add" + stem, "adding " + noun};
    if (op == "set") return {"Set" + stem, "changing " + noun};
    if (op == "delete") return {"Delete" + stem, "deleting " + noun};
    if (op == "open") return {"Open" + stem + "Handle", "opening a handle to " + noun};
    if (op == "close") return {"Close" + stem + "Handle", "closing a handle to " + noun};
  }
  return {std::string(site), "the call site " + std::string(site)};
}

constexpr std::string_view precedence_text =
    "Computer Configuration writes the value under HKLM\\SOFTWARE\\Policies\\ipsec_retry, User "
    "Configuration under HKCU\\SOFTWARE\\Policies\\ipsec_retry; both are REG_SZ. Precedence, "
    "lowest first: the default, the program's configuration file, its IPSEC_RETRY_* "
    "environment variables, the user's policy, the computer's policy (the computer's wins).\n\n"
    "Disabled or Not Configured: the value is removed, and what the sources below it give "
    "applies again.\n\n"
    "A program reads the values when it starts (and, if it watches for Group Policy refreshes, "
    "after each one). A load is all or nothing: a value with an error, or one that is not "
    "REG_SZ, is refused together with every other registry value, and the error names the "
    "value's registry path. To check a host, run: ipsec-retry sites";

constexpr std::string_view site_grammar_text =
    "The line: key=value items separated by \",\" or \";\", blanks allowed around them, for "
    "example: timeout=90s, max_delay=5s, budget=agent\n"
    "Keys the line leaves out keep the site's default. Durations are a number and a unit from "
    "ns, us, ms, s, min, h (250ms, 1.5s, 2min); a bare number is an error. Codes are decimal, 0x "
    "hex, an HRESULT (0x800732DF) or a symbolic name (ERROR_BUSY), several joined by |.\n\n"
    "attempts: calls in all, the first included: an integer >= 1, or unlimited.\n"
    "timeout: how long after the first call the last may start: a duration, or none (not "
    "together with attempts=unlimited).\n"
    "backoff: constant, linear, exponential or decorrelated.\n"
    "initial: the first delay, before call 2 (a duration > 0, at most max_delay).\n"
    "multiplier: growth per call of exponential backoff, a decimal >= 1.\n"
    "step: the increment of linear backoff, a duration (default: initial).\n"
    "max_delay: no delay is longer.\n"
    "jitter: none, full, equal, or N% (proportional, 0 < N <= 100).\n"
    "retry_on: codes this site also retries.\n"
    "never_retry: codes this site never retries.\n"
    "success_on: codes this site counts as success (NOT_FOUND on a delete, say).\n"
    "idempotent: yes or no: whether a call whose outcome is unknown may be repeated.\n"
    "at_deadline: final_call or give_up.\n"
    "seed: an integer that makes the jitter reproducible.\n"
    "budget: the name of a retry budget (Budgets and breakers), or none.\n"
    "breaker: the name of a circuit breaker (Budgets and breakers), or none.";

constexpr std::string_view budget_grammar_text =
    "The settings: key=value items separated by \",\" or \";\". Keys left out keep the budget's "
    "default.\n"
    "max_tokens: the budget's size, a decimal in (0, 1000].\n"
    "token_ratio: what each successful call gives back, a decimal in (0, max_tokens].\n"
    "A failure that says the agent is struggling (RPC transport failures, ERROR_BUSY, timeouts) "
    "takes one token; a retry is allowed only while more than max_tokens / 2 are left (gRPC's "
    "retry throttling). Pending deletions cost nothing.";

constexpr std::string_view breaker_grammar_text =
    "The settings: key=value items separated by \",\" or \";\". Keys left out keep the "
    "breaker's default.\n"
    "failure_threshold: consecutive transport failures that open the breaker, an integer >= 1.\n"
    "cool_down: how long it stays open before it lets one trial call through, a duration > 0 "
    "(250ms, 30s, 1min).";

std::vector<policy_entry> policy_entries() {
  std::vector<policy_entry> entries;
  const ipsec::call_site_registry defaults;
  for (const auto& site : defaults.describe_sites()) {
    const std::string policy = site.policy.format();
    const site_words words = site_meaning(site.name);
    entries.push_back(
        policy_entry{identifier("Site_", site.name), "IpsecRetry_Sites", "Sites", site.name,
                     site.name + " (" + words.function + ")",
                     "Sets the retries of the call site " + site.name + ": " + words.function +
                         ", " + words.action +
                         ", in the programs on this computer built with ipsec_retry.\n\n"
                         "Enabled: the line is written to the value " +
                         site.name + " of the key SOFTWARE\\Policies\\ipsec_retry\\Sites. " +
                         std::string(precedence_text) + "\n\nThe site's default:\n" + policy +
                         "\n(budget none, breaker none)\n\n" + std::string(site_grammar_text),
                     "Line for " + site.name + ":", policy});
  }
  const std::string list_note =
      "Each entry is a value name and its text; entries are added to the key's values (the "
      "policies above keep theirs). Disabling or emptying the list removes what it wrote. ";
  entries.push_back(policy_entry{
      "Sites_other", "IpsecRetry_Sites", "Sites", "", "Other call sites",
      "Sets the lines of call sites this template has no policy for: the sites a program "
      "defines itself (their names are in the program's documentation, or in the output of "
      "ipsec-retry sites run with the program's configuration). A name no program on the host "
      "defines is skipped.\n\n"
      "Enabled: each entry writes a value of the key SOFTWARE\\Policies\\ipsec_retry\\Sites. " +
          list_note + std::string(precedence_text) + "\n\n" + std::string(site_grammar_text),
      "Sites (value name: the site, value: its line):", ""});

  // The guard named agent, and a list for guards of other names: for budgets and breakers.
  struct guard_words {
    std::string noun, Noun, subkey, plural, what, defaults;
    std::string_view grammar;
  };
  const guard_words guards[] = {
      {"budget", "Budget", "Budgets", "retry budgets",
       "the retry budget named agent, which call sites share by saying budget=agent in their "
       "line: one budget per Policy Agent caps the retries of all of them together when the "
       "agent is overloaded.",
       retry_budget::format(retry_budget::settings{}), budget_grammar_text},
      {"breaker", "Breaker", "Breakers", "circuit breakers",
       "the circuit breakers named agent, which call sites use by saying breaker=agent in "
       "their line: after consecutive transport failures calls to that server fail at once, "
       "until a trial call succeeds.",
       circuit_breaker::format(circuit_breaker::settings{}), breaker_grammar_text},
  };
  std::vector<policy_entry> lists;
  for (const guard_words& g : guards) {
    const std::string key = "SOFTWARE\\Policies\\ipsec_retry\\" + g.subkey;
    const std::string default_text =
        "\n\nThe default of a " + g.noun + " a source creates:\n" + g.defaults + "\n\n";
    entries.push_back(policy_entry{
        g.Noun + "_agent", "IpsecRetry_Guards", g.subkey, "agent", g.Noun + " agent",
        "Defines (or re-tunes) " + g.what +
            "\n\nEnabled: the settings are written to the value "
            "agent of the key " +
            key + ". " + std::string(precedence_text) + default_text + std::string(g.grammar),
        "Settings of " + g.noun + " agent:", g.defaults});
    lists.push_back(policy_entry{
        g.subkey + "_other", "IpsecRetry_Guards", g.subkey, "", "Other " + g.noun + "s",
        "Defines (or re-tunes) " + g.plural + " of other names. A " + g.noun +
            " a site line names must be defined somewhere: in code, the configuration file or "
            "here.\n\nEnabled: each entry writes a value of the key " +
            key + ". " + list_note + std::string(precedence_text) + default_text +
            std::string(g.grammar),
        g.Noun + "s (value name: the " + g.noun + ", value: its settings):", ""});
  }
  entries.insert(entries.end(), lists.begin(), lists.end());
  return entries;
}

constexpr std::string_view generated_note =
    "<!-- Generated by tools/admx from the library's call sites and defaults (cmake --build "
    "build/default --target admx); tests/admx_test.cpp checks it. Do not edit. -->\n";

constexpr std::string_view schema_attributes =
    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" revision=\"1.0\" "
    "schemaVersion=\"1.0\" "
    "xmlns=\"http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions\"";

}  // namespace

std::string admx_text() {
  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
  out += generated_note;
  out += "<policyDefinitions " + std::string(schema_attributes) + ">\n";
  out += "  <policyNamespaces>\n";
  out += "    <target prefix=\"ipsec_retry\" namespace=\"IpsecRetry.Policies.IpsecRetry\"/>\n";
  out += "  </policyNamespaces>\n";
  out += "  <resources minRequiredRevision=\"1.0\"/>\n";
  out += "  <supportedOn>\n    <definitions>\n";
  out += "      <definition name=\"" + std::string(supported_on) + "\" displayName=\"$(string." +
         std::string(supported_on) + ")\"/>\n";
  out += "    </definitions>\n  </supportedOn>\n";
  out += "  <categories>\n";
  out +=
      "    <category name=\"IpsecRetry\" displayName=\"$(string.IpsecRetry)\" "
      "explainText=\"$(string.IpsecRetry_Explain)\"/>\n";
  for (std::string_view sub : {"IpsecRetry_Sites", "IpsecRetry_Guards"}) {
    out += "    <category name=\"" + std::string(sub) + "\" displayName=\"$(string." +
           std::string(sub) + ")\">\n      <parentCategory ref=\"IpsecRetry\"/>\n    </category>\n";
  }
  out += "  </categories>\n";
  out += "  <policies>\n";
  for (const policy_entry& p : policy_entries()) {
    const std::string key = xml_escaped(key_of(p.subkey));
    out += "    <policy name=\"" + p.id + "\" class=\"Both\" displayName=\"$(string." + p.id +
           ")\" explainText=\"$(string." + p.id + "_Explain)\" presentation=\"$(presentation." +
           p.id + ")\" key=\"" + key + "\">\n";
    out += "      <parentCategory ref=\"" + p.category + "\"/>\n";
    out += "      <supportedOn ref=\"" + std::string(supported_on) + "\"/>\n";
    out += "      <elements>\n";
    if (p.value_name.empty()) {
      out += "        <list id=\"Entries\" key=\"" + key +
             "\" explicitValue=\"true\" additive=\"true\"/>\n";
    } else {
      out += "        <text id=\"Line\" valueName=\"" + xml_escaped(p.value_name) +
             "\" maxLength=\"1024\" required=\"true\"/>\n";
    }
    out += "      </elements>\n";
    out += "    </policy>\n";
  }
  out += "  </policies>\n";
  out += "</policyDefinitions>\n";
  return out;
}

std::string adml_text() {
  const std::vector<policy_entry> entries = policy_entries();
  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
  out += generated_note;
  out += "<policyDefinitionResources " + std::string(schema_attributes) + ">\n";
  out += "  <displayName>ipsec_retry</displayName>\n";
  out +=
      "  <description>Retry limits of the IPsec Policy Agent calls made by programs built "
      "with ipsec_retry</description>\n";
  out += "  <resources>\n    <stringTable>\n";
  const auto string_entry = [&](std::string_view id, std::string_view text) {
    out += "      <string id=\"" + std::string(id) + "\">" + xml_escaped(text) + "</string>\n";
  };
  string_entry(supported_on, "Programs built with ipsec_retry 0.2 or later");
  string_entry("IpsecRetry", "ipsec_retry");
  string_entry("IpsecRetry_Explain",
               "Retry limits for the IPsec Policy Agent calls (winipsec.dll) of programs built "
               "with ipsec_retry, and of scripts that run commands through ipsec-retry run "
               "--site. Each call site has a line of key=value items; budgets and breakers "
               "limit the retries of the sites that share them.");
  string_entry("IpsecRetry_Sites", "Call sites");
  string_entry("IpsecRetry_Guards", "Budgets and breakers");
  for (const policy_entry& p : entries) {
    string_entry(p.id, p.display);
    string_entry(p.id + "_Explain", p.explain);
  }
  out += "    </stringTable>\n    <presentationTable>\n";
  for (const policy_entry& p : entries) {
    out += "      <presentation id=\"" + p.id + "\">\n";
    if (p.value_name.empty()) {
      out += "        <listBox refId=\"Entries\">" + xml_escaped(p.label) + "</listBox>\n";
    } else {
      out += "        <textBox refId=\"Line\">\n          <label>" + xml_escaped(p.label) +
             "</label>\n          <defaultValue>" + xml_escaped(p.default_text) +
             "</defaultValue>\n        </textBox>\n";
    }
    out += "      </presentation>\n";
  }
  out += "    </presentationTable>\n  </resources>\n";
  out += "</policyDefinitionResources>\n";
  return out;
}

}  // namespace ipsec_retry::admx
