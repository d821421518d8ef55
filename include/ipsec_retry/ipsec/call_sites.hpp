// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: named call sites, their retry policies, shared retry budgets and
// circuit breakers.
//
// Each place a host calls the Policy Agent is a call site with a name ("qm.delete") and a
// policy. Sites start from a default (the library's for its own sites, the host's for sites it
// defines) and can be overridden from a configuration text or from environment variables, so
// operators tune limits without a rebuild. Sites may share a named retry_budget (gRFC A6,
// guards.hpp) and a named circuit breaker (one breaker per server), defined in code or in the
// configuration:
//
//   # ipsec_retry.conf: one site, budget or breaker per line; keys not given keep the default
//   budget agent: max_tokens=10, token_ratio=0.1
//   breaker agent: failure_threshold=5, cool_down=30s
//   qm.delete: timeout=60s, attempts=50, budget=agent, breaker=agent
//   qm.add:    initial=10ms, jitter=none, budget=agent
//
//   IPSEC_RETRY_QM_DELETE="timeout=90s"           # env: IPSEC_RETRY_ + site upper-cased,
//   IPSEC_RETRY_BUDGET_AGENT="max_tokens=20"      #   '.'/'-' -> '_'; budgets: IPSEC_RETRY_BUDGET_,
//   IPSEC_RETRY_BREAKER_AGENT="cool_down=1min"    #   breakers: IPSEC_RETRY_BREAKER_
//
//   HKLM\SOFTWARE\Policies\ipsec_retry\Sites  qm.delete = "timeout=120s"  # Group Policy
//                                                   # (registry_source.hpp); HKLM wins
//
//   ipsec_retry::ipsec::call_site_registry sites;
//   if (auto loaded = sites.load_config(text); !loaded) std::cerr << loaded.error().message();
//   auto site = sites.site("qm.delete").value();   // policy + budget + breakers (nullptr if none)
//   auto r = delete_qm_policy(agent, L"corp-qm", site.policy,
//                             ipsec_retry::options().with_guard(site.guard(server)));
//
// Lookups take a shared lock and copy the policy out (no allocation); loads are all-or-nothing
// and may run concurrently with lookups and with retries using the budgets. A budget lives as
// long as the registry: reloading a configuration reconfigures it in place (it keeps how full it
// is), so the pointers handed out stay valid. So does a breaker (it keeps its state).
#pragma once

#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/ipsec/registry_source.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ipsec_retry::ipsec {

/// The library's own sites, one per typed operation ("" for an operation the object has not):
/// qm.add, qm.set, qm.delete, mm.add, mm.set, mm.delete, mm_auth.add, mm_auth.set,
/// mm_auth.delete, and for each of transport_filter, tunnel_filter and mm_filter: .add, .open,
/// .set, .delete, .close (e.g. "transport_filter.delete"). Defaults: builtin_policy().
std::string_view site_name(object_kind object, agent_operation op) noexcept;
std::string_view site_name(policy_kind kind, policy_operation op) noexcept;

/// Why a site or a configuration was refused.
enum class registry_errc : int {
  unknown_site = 1,   ///< no site of that name (the message suggests the nearest)
  duplicate_site,     ///< define() of a name already defined
  bad_site_name,      ///< names are letters, digits, '.', '_' and '-'
  syntax,             ///< a configuration line that is not `site: policy`
  bad_policy,         ///< the policy text of a site is invalid (see `policy`)
  unknown_budget,     ///< a site names a budget that is not defined (suggests the nearest)
  duplicate_budget,   ///< define_budget() of a name already defined, or a budget line twice
  bad_budget,         ///< a budget's name or settings are invalid
  unknown_breaker,    ///< a site names a breaker that is not defined (suggests the nearest)
  duplicate_breaker,  ///< define_breaker() of a name already defined, or a breaker line twice
  bad_breaker,        ///< a breaker's name or settings are invalid
  bad_value_type,     ///< a registry value that is not REG_SZ
  unreadable_source,  ///< a registry key that exists but could not be read
};
const std::error_category& registry_category() noexcept;
inline std::error_code make_error_code(registry_errc e) noexcept {
  return {static_cast<int>(e), registry_category()};
}

/// A refused configuration: where, which site, and why, kept as data; message() renders it,
/// e.g. "line 3 (qm.delete): column 20: bad value '5' for 'timeout': expected a duration ..."
/// for the line "qm.delete: timeout=5" (columns count in the line, from 1).
struct config_error {
  registry_errc code;
  /// "line 3" ("FILE:3" for a named text), the environment variable's name, the registry value
  /// ("HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete"), or the function refusing.
  std::string source;
  std::string site;        ///< the site (or "budget NAME", "breaker NAME") named there, if any
  std::size_t line = 0;    ///< the line of the configuration text, from 1; 0 for other sources
  std::size_t column = 0;  ///< where in the line (or variable) the error is, from 1; 0: nowhere
  std::string key;         ///< the key at fault ("budget" for an unknown budget), if any
  std::string problem;     ///< what is wrong, when `text` does not say it
  /// bad_policy, bad_budget, bad_breaker: the error of the site's (budget's, breaker's) text,
  /// its columns in the line or variable.
  std::optional<policy_error> text;

  /// "SOURCE (SITE): column N: what is wrong".
  std::string message() const;
};
inline std::error_code make_error_code(const config_error& e) noexcept {
  return make_error_code(e.code);
}
[[noreturn]] void outcome_throw_as_system_error_with_payload(const config_error& e);

template <class T>
using config_result = outcome::std_result<T, config_error>;

/// A site's breaker guard: the breaker of one server, or none (refuses nothing, learns
/// nothing). As breaker_guard otherwise.
struct site_breaker_guard {
  static constexpr bool active = true;
  using ticket = circuit_breaker::ticket;
  circuit_breaker* breaker = nullptr;
  admission<ticket> admit(std::uint32_t) const {
    return breaker != nullptr ? breaker->admit() : admission<ticket>{};
  }
  void record(const ticket& t, verdict v, std::optional<std::uint32_t> code) const noexcept {
    if (breaker != nullptr) breaker->record(t, v, code);
  }
  void release(const ticket& t) const noexcept {
    if (breaker != nullptr) breaker->release(t);
  }
};
/// What call_site::guard() gives: the budget first, then the server's breaker.
using site_guard = guard_all<budget_guard, site_breaker_guard>;

/// What a call site runs with: a copy of its policy, and the budget and breakers it shares.
struct call_site {
  retry_policy policy;
  retry_budget* budget = nullptr;        ///< owned by the registry; nullptr: no budget attached
  circuit_breakers* breakers = nullptr;  ///< owned by the registry; nullptr: no breaker
  /// The guard for retry_options::guard: the budget (if any), then the breaker of `server` (the
  /// server name given to the agent; "" = this machine) if the site has breakers. A call goes
  /// ahead only if both admit it, and both learn its verdict. Refuses nothing when neither is
  /// attached. Looking up a server's breaker for the first time allocates it.
  site_guard guard(std::wstring_view server = {}) const {
    return site_guard{
        budget_guard{budget},
        site_breaker_guard{breakers != nullptr ? &breakers->for_server(server) : nullptr}};
  }
};

class call_site_registry {
 public:
  /// A registry with the library's sites at their built-in policies and no budgets or breakers.
  /// Its breakers read the steady clock, or `clock` (a virtual clock in tests).
  call_site_registry();
  template <clock_source Clock>
  explicit call_site_registry(Clock clock) : call_site_registry() {
    now_ = [clock]() mutable { return clock.now(); };
  }
  call_site_registry(const call_site_registry&) = delete;
  call_site_registry& operator=(const call_site_registry&) = delete;

  /// Adds a host-defined site (e.g. "wfp.add_filter") with its default policy.
  config_result<void> define(std::string_view site, const retry_policy& default_policy);

  /// The current policy of `site`, or unknown_site (with a "did you mean").
  config_result<retry_policy> policy(std::string_view site) const;

  /// The current policy of `site` and the budget attached to it.
  config_result<call_site> site(std::string_view name) const;

  /// Adds a named retry budget (same names as sites; "none" is reserved) with its default
  /// settings, validated as by retry_budget::make. A budget can also be created by a
  /// configuration line `budget NAME: settings`.
  config_result<void> define_budget(std::string_view budget, const retry_budget::settings& s);

  /// Makes `budget` the default budget of `site` ("" or "none": no budget); a configuration
  /// line for the site that does not say `budget=` keeps this default.
  config_result<void> attach_budget(std::string_view site, std::string_view budget);

  /// The budget of that name; the pointer stays valid for the registry's lifetime.
  config_result<retry_budget*> budget(std::string_view budget) const;

  /// Adds named circuit breakers (one breaker per server; names as budgets', "none"
  /// reserved) with their default settings, validated as by circuit_breaker::make. Also made by
  /// a configuration line `breaker NAME: settings`.
  config_result<void> define_breaker(std::string_view breaker, const circuit_breaker::settings& s);
  /// Makes `breaker` the default breaker of `site` ("" or "none": none), as attach_budget.
  config_result<void> attach_breaker(std::string_view site, std::string_view breaker);
  /// The breakers of that name; the pointer stays valid for the registry's lifetime.
  config_result<circuit_breakers*> breaker(std::string_view breaker) const;

  /// Applies configuration lines:
  ///   SITE: policy [, budget=NAME|none] [, breaker=NAME|none]   policy as in retry_policy::parse
  ///   budget NAME: max_tokens=T, token_ratio=R
  ///   breaker NAME: failure_threshold=N, cool_down=D
  /// '#' starts a comment; blank lines are skipped; a site, budget or breaker may appear once.
  /// Keys a line gives override that site's (budget's, breaker's) default, the others keep it;
  /// `budget=` and `breaker=` may name one defined on any line of the text or earlier. A new
  /// budget starts full; a changed one keeps how full it is (retry_budget::reconfigure); a
  /// changed breaker keeps its state (circuit_breaker::reconfigure). On any error nothing
  /// changes.
  config_result<void> load_config(std::string_view text);
  /// As above, for a text read from `source_name` (a file's path): sources and errors say
  /// "FILE:LINE" instead of "line LINE".
  config_result<void> load_config(std::string_view text, std::string_view source_name);

  /// Applies IPSEC_RETRY_<SITE> (a site line's right-hand side), IPSEC_RETRY_BUDGET_<NAME> (a
  /// budget's settings) and IPSEC_RETRY_BREAKER_<NAME> (a breaker's settings) environment
  /// variables (std::getenv) on top of the current state.
  /// Only defined sites, budgets and breakers are read. On any error nothing changes.
  config_result<void> load_environment();
  /// As above, reading variables through `getenv` (for tests, or another source of variables).
  using getenv_function = std::function<const char*(const char*)>;
  config_result<void> load_environment(const getenv_function& getenv);

  /// Applies the Group Policy values (registry_source.hpp) on top of the current state:
  /// HKCU's, then HKLM's (so HKLM wins). Budgets and Breakers values come first and, like
  /// configuration lines, may create a budget or breaker; then each Sites value applies over
  /// what its site has, as its environment variable would. A Sites value naming no defined site
  /// is skipped (another program on the host may define it) and, if `skipped` is given, its
  /// registry path is added there. A value that is not REG_SZ, bad text or an unreadable key is
  /// an error naming the value ("HKLM\\SOFTWARE\\Policies\\ipsec_retry\\Sites\\qm.delete");
  /// on any error nothing changes.
  config_result<void> load_registry(std::vector<std::string>* skipped = nullptr);
  /// As above, through `reader` (a fake registry in tests).
  config_result<void> load_registry(const registry_reader& reader,
                                    std::vector<std::string>* skipped = nullptr);

  /// What reload() reads; a source left empty is not read.
  struct configuration_sources {
    std::optional<std::string> config_text;  ///< a configuration text (load_config)
    std::string config_name;                 ///< its file, for "FILE:LINE"; "" for "line N"
    getenv_function getenv;                  ///< the environment (load_environment)
    registry_reader registry;                ///< Group Policy (load_registry)
  };
  /// Rebuilds the configuration from scratch as one all-or-nothing load: every site, budget and
  /// breaker back to its default, then the sources in precedence order (lowest first): the
  /// text, the environment, HKCU, HKLM. Unlike a sequence of loads on top of each other, a value
  /// removed from a source falls back to the one below it, so this is what a
  /// group_policy_watcher calls. Budgets and breakers keep how full they are and their state
  /// (a budget or breaker that a source once created stays, at its defaults).
  config_result<void> reload(const configuration_sources& from,
                             std::vector<std::string>* skipped = nullptr);

  /// A site as it runs now, and every source that changed it since its default, lowest first
  /// ("FILE:3", "IPSEC_RETRY_QM_DELETE", "HKLM\\...\\Sites\\qm.delete"); empty: its default.
  struct site_description {
    std::string name;
    retry_policy policy;
    std::string budget;   ///< "" = none
    std::string breaker;  ///< "" = none
    std::vector<std::string> sources;
  };
  /// A budget or breaker as it is configured now: its settings text (retry_budget::format or
  /// circuit_breaker::format) and the sources that set it, lowest first (empty: its default).
  struct guard_description {
    std::string name;
    std::string settings;
    std::vector<std::string> sources;
  };
  /// Every site, sorted by name.
  std::vector<site_description> describe_sites() const;
  /// Every budget (breaker), sorted by name.
  std::vector<guard_description> describe_budgets() const;
  std::vector<guard_description> describe_breakers() const;

  /// An IPSEC_RETRY_* variable that no site, budget or breaker reads, and the nearest variable
  /// that one does read ("" when nothing is near).
  struct unread_variable {
    std::string variable;
    std::string did_you_mean;
  };
  /// Which of `names` (every variable of an environment) start with IPSEC_RETRY_ but are read by
  /// no site, budget or breaker: a misspelt variable that load_environment() would ignore.
  std::vector<unread_variable> unread_variables(const std::vector<std::string>& names) const;

  /// The environment variable for a site: "qm.delete" -> "IPSEC_RETRY_QM_DELETE".
  static std::string environment_variable(std::string_view site);
  /// The environment variable for a budget: "agent" -> "IPSEC_RETRY_BUDGET_AGENT".
  static std::string budget_environment_variable(std::string_view budget);
  /// The environment variable for a breaker: "agent" -> "IPSEC_RETRY_BREAKER_AGENT".
  static std::string breaker_environment_variable(std::string_view breaker);

  /// Every site name, sorted.
  std::vector<std::string> sites() const;
  /// Every budget name, sorted.
  std::vector<std::string> budgets() const;
  /// Every breaker name, sorted.
  std::vector<std::string> breakers() const;

 private:
  struct site_entry {
    std::string name;
    retry_policy default_policy;
    retry_policy current;
    std::string default_budget;  // "" = none
    std::string current_budget;
    std::string default_breaker;  // "" = none
    std::string current_breaker;
    std::vector<std::string> sources;  // what set `current*` since the default, lowest first
  };
  struct budget_entry {
    retry_budget::settings default_settings;  // what keys a line does not give fall back to
    std::unique_ptr<retry_budget> budget;     // never replaced: pointers handed out stay valid
    std::vector<std::string> sources;         // as site_entry's
  };
  struct breaker_entry {
    circuit_breaker::settings default_settings;
    std::unique_ptr<circuit_breakers> breakers;  // never replaced, as a budget
    std::vector<std::string> sources;
  };
  using site_list = std::vector<site_entry>;  // sorted by name
  using budget_map = std::map<std::string, budget_entry, std::less<>>;
  using breaker_map = std::map<std::string, breaker_entry, std::less<>>;
  struct staged_load;
  struct registry_clock;

  // Guarded by mutex_.
  site_list sites_;
  budget_map budgets_;
  breaker_map breakers_;
  mutable std::shared_mutex mutex_;
  std::function<time_point()> now_;  // set at construction; what the breakers read

  static site_entry* find(site_list& sites, std::string_view name);
  static const site_entry* find(const site_list& sites, std::string_view name);
  // The loads' steps, each on a staged copy (call_site_loads.cpp, call_site_registry_load.cpp).
  static std::optional<config_error> stage_config(staged_load& staged, std::string_view text,
                                                  std::string_view source_name);
  static std::optional<config_error> stage_environment(staged_load& staged,
                                                       const getenv_function& getenv);
  static std::optional<config_error> stage_registry(staged_load& staged,
                                                    const registry_reader& reader,
                                                    std::vector<std::string>* skipped);
  // Applies a site's text (a variable or registry value) over what it has.
  static std::optional<config_error> apply_site_text(staged_load& staged, site_entry& site,
                                                     std::string_view text,
                                                     const std::string& source);
  // Locks, stages (from the defaults, or from what the registry has), runs `stage` and
  // commits unless it returned an error.
  template <class Stage>
  config_result<void> load(bool from_defaults, Stage stage);
  void commit(staged_load& staged);  // everything was checked; may only throw bad_alloc,
                                     // and then before it changes anything
};

}  // namespace ipsec_retry::ipsec

namespace std {
template <>
struct is_error_code_enum<ipsec_retry::ipsec::registry_errc> : true_type {};
}  // namespace std
