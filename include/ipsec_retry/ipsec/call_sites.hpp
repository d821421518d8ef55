// ipsec_retry::ipsec: named call sites and their retry policies.
//
// Each place a host calls the Policy Agent is a call site with a name ("qm.delete") and a
// policy. Sites start from a default (the library's for its own sites, the host's for sites it
// defines) and can be overridden from a configuration text or from environment variables, so
// operators tune limits without a rebuild:
//
//   # ipsec_retry.conf: one site per line; keys not given keep the site's default
//   qm.delete: timeout=60s, attempts=50
//   qm.add:    initial=10ms, jitter=none
//
//   IPSEC_RETRY_QM_DELETE="timeout=90s"      # env: IPSEC_RETRY_ + site upper-cased, '.'/'-' -> '_'
//
//   ipsec_retry::ipsec::call_site_registry sites;
//   if (auto loaded = sites.load_config(text); !loaded) std::cerr << loaded.error().message;
//   auto r = delete_qm_policy(agent, L"corp-qm", sites.policy("qm.delete").value());
//
// Lookups take a shared lock and copy the policy out (no allocation); loads are all-or-nothing
// and may run concurrently with lookups.
#pragma once

#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <cstddef>
#include <functional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ipsec_retry::ipsec {

/// The library's own sites: qm.add, qm.set, qm.delete, mm.add, mm.set, mm.delete.
std::string_view site_name(policy_kind kind, policy_operation op) noexcept;

/// Why a site or a configuration was refused.
enum class registry_errc : int {
  unknown_site = 1,  ///< no site of that name (the message suggests the nearest)
  duplicate_site,    ///< define() of a name already defined
  bad_site_name,     ///< names are letters, digits, '.', '_' and '-'
  syntax,            ///< a configuration line that is not `site: policy`
  bad_policy,        ///< the policy text of a site is invalid (see `policy`)
};
const std::error_category& registry_category() noexcept;
inline std::error_code make_error_code(registry_errc e) noexcept {
  return {static_cast<int>(e), registry_category()};
}

/// A refused configuration: where, which site, and why. `message` is complete, e.g.
///   "line 3 (qm.delete): column 20: bad value '5' for 'timeout': expected a duration ..."
/// for the line "qm.delete: timeout=5" (columns count in the line, from 1).
struct config_error {
  registry_errc code;
  std::string source;  ///< "line 3" or the environment variable's name
  std::string site;    ///< the site named there, if any
  std::string message;
};
inline std::error_code make_error_code(const config_error& e) noexcept {
  return make_error_code(e.code);
}
[[noreturn]] void outcome_throw_as_system_error_with_payload(const config_error& e);

template <class T>
using config_result = outcome::std_result<T, config_error>;

class call_site_registry {
 public:
  /// A registry with the library's sites at their built-in policies.
  call_site_registry();

  /// Adds a host-defined site (e.g. "wfp.add_filter") with its default policy.
  config_result<void> define(std::string_view site, const retry_policy& default_policy);

  /// The current policy of `site`, or unknown_site (with a "did you mean").
  config_result<retry_policy> policy(std::string_view site) const;

  /// Applies `site: policy` lines. '#' starts a comment; blank lines are skipped; a site may
  /// appear once. Keys a line gives override the site's default, the others keep it. On any
  /// error nothing changes.
  config_result<void> load_config(std::string_view text);

  /// Applies IPSEC_RETRY_<SITE> environment variables (std::getenv) on top of the current
  /// policies. On any error nothing changes.
  config_result<void> load_environment();
  /// As above, reading variables through `getenv` (for tests, or another source of variables).
  using getenv_function = std::function<const char*(const char*)>;
  config_result<void> load_environment(const getenv_function& getenv);

  /// The environment variable for a site: "qm.delete" -> "IPSEC_RETRY_QM_DELETE".
  static std::string environment_variable(std::string_view site);

  /// Every site name, sorted.
  std::vector<std::string> sites() const;

 private:
  struct site {
    std::string name;
    retry_policy default_policy;
    retry_policy current;
  };
  // Sorted by name. Guarded by mutex_.
  std::vector<site> sites_;
  mutable std::shared_mutex mutex_;

  static site* find(std::vector<site>& sites, std::string_view name);
  static const site* find(const std::vector<site>& sites, std::string_view name);
  static config_error unknown(const std::vector<site>& sites, std::string_view name,
                              std::string source);
};

}  // namespace ipsec_retry::ipsec

namespace std {
template <>
struct is_error_code_enum<ipsec_retry::ipsec::registry_errc> : true_type {};
}  // namespace std
