// SPDX-License-Identifier: BSL-1.0
// The call-site configuration a host runs with, as `ipsec-retry sites` shows it and `ipsec-retry
// run --site` uses it: the built-in sites' defaults, then a configuration file, the environment
// and (on Windows) Group Policy's registry keys, in that precedence (docs/configuration.md).
#pragma once

#include <ipsec_retry/ipsec/call_sites.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace ipsec_retry::cli {

struct host_sources {
  std::optional<std::string> config_file;  ///< UTF-8 path; unset: no file
  bool environment = true;                 ///< read IPSEC_RETRY_* (false: --no-env)
};

/// Loads every source into `sites` (one all-or-nothing call_site_registry::reload). On an
/// unreadable file or a bad value, writes "ipsec-retry COMMAND: " and the error, which names
/// the file and line, the variable or the registry value, to `err` and returns false. Warns on
/// `err` about registry values for sites nobody defines and IPSEC_RETRY_* variables that no site,
/// budget or breaker reads (with the nearest one that is read).
bool load_host_sites(ipsec::call_site_registry& sites, const host_sources& from,
                     std::string_view command, std::ostream& err);

/// The names of every variable in this process's environment.
std::vector<std::string> environment_variable_names();

}  // namespace ipsec_retry::cli
