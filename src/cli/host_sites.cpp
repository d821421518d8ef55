// SPDX-License-Identifier: BSL-1.0
#include "host_sites.hpp"

#include <ipsec_retry/ipsec/registry_source.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#if defined(_WIN32)
#include <stdlib.h>  // _environ
#else
#include <unistd.h>  // environ
#endif

namespace ipsec_retry::cli {
namespace {

std::optional<std::string> read_file(const std::string& path, std::string_view command,
                                     std::ostream& err) {
  errno = 0;
  // The name is UTF-8 (on Windows too: main() converts the arguments).
  const std::u8string name(path.begin(), path.end());
  std::ifstream in(std::filesystem::path(name), std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in) {
    err << "ipsec-retry " << command << ": cannot read --config '" << path << "'"
        << (errno != 0 ? std::string(": ") + std::strerror(errno) : std::string()) << '\n';
    return std::nullopt;
  }
  return text.str();
}

}  // namespace

std::vector<std::string> environment_variable_names() {
#if defined(_WIN32)
  char** entries = _environ;
#else
  char** entries = environ;
#endif
  std::vector<std::string> names;
  for (; entries != nullptr && *entries != nullptr; ++entries) {
    const std::string_view entry(*entries);
    names.emplace_back(entry.substr(0, entry.find('=')));
  }
  return names;
}

bool load_host_sites(ipsec::call_site_registry& sites, const host_sources& from,
                     std::string_view command, std::ostream& err) {
  ipsec::call_site_registry::configuration_sources sources;
  if (from.config_file) {
    sources.config_text = read_file(*from.config_file, command, err);
    if (!sources.config_text) return false;
    sources.config_name = *from.config_file;
  }
  if (from.environment) {
    sources.getenv = [](const char* name) -> const char* { return std::getenv(name); };
  }
  sources.registry = ipsec::system_registry();
  std::vector<std::string> skipped;
  if (auto loaded = sites.reload(sources, &skipped); !loaded) {
    err << "ipsec-retry " << command << ": " << loaded.error().message() << '\n';
    return false;
  }
  for (const std::string& value : skipped) {
    err << "ipsec-retry " << command << ": warning: registry value " << value
        << " names no call site of this program; ignored\n";
  }
  if (from.environment) {
    for (const auto& unread : sites.unread_variables(environment_variable_names())) {
      err << "ipsec-retry " << command << ": warning: environment variable " << unread.variable
          << " names no call site, budget or breaker; ignored";
      if (!unread.did_you_mean.empty()) err << " (did you mean " << unread.did_you_mean << "?)";
      err << '\n';
    }
  }
  return true;
}

}  // namespace ipsec_retry::cli
