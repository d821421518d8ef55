// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry run --site NAME [--config FILE]`: the policy a call site has in this
// environment. (To be replaced by the CLI's shared site loader.)
#include <ipsec_retry/ipsec/call_sites.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>

#include "commands.hpp"

namespace ipsec_retry::cli {

std::optional<retry_policy> run_site_policy(const std::string& site,
                                            const std::optional<std::string>& config_file,
                                            std::ostream& err) {
  ipsec::call_site_registry registry;
  if (config_file) {
    errno = 0;
    // The name is UTF-8 (on Windows too: main() converts the arguments).
    const std::u8string name(config_file->begin(), config_file->end());
    std::ifstream in(std::filesystem::path(name), std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in) {
      err << "ipsec-retry run: cannot read --config '" << *config_file << "'"
          << (errno != 0 ? std::string(": ") + std::strerror(errno) : std::string()) << '\n';
      return std::nullopt;
    }
    if (auto loaded = registry.load_config(text.str()); !loaded) {
      err << "ipsec-retry run: " << *config_file << ": " << loaded.error().message() << '\n';
      return std::nullopt;
    }
  }
  if (auto loaded = registry.load_environment(); !loaded) {
    err << "ipsec-retry run: environment variable " << loaded.error().message() << '\n';
    return std::nullopt;
  }
  auto policy = registry.policy(site);
  if (!policy) {
    err << "ipsec-retry run: bad --site '" << site << "': " << policy.error().problem << '\n';
    return std::nullopt;
  }
  return policy.value();
}

}  // namespace ipsec_retry::cli
