// SPDX-License-Identifier: BSL-1.0
// A registry in memory for registry_source.hpp's seam: (hive, key) -> values; a key listed in
// `unreadable` fails to read, and every key read is recorded.
#pragma once

#include <ipsec_retry/ipsec/registry_source.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace ipsec_retry::test {

struct fake_registry {
  using key_path = std::pair<ipsec::registry_hive, std::string>;
  std::map<key_path, std::vector<ipsec::registry_value>> keys;
  std::vector<key_path> unreadable;
  mutable std::vector<key_path> reads;  ///< every key read, in order

  void set(ipsec::registry_hive hive, const std::string& key, std::string name, std::string data,
           std::uint32_t type = ipsec::reg_sz) {
    keys[{hive, key}].push_back({std::move(name), type, std::move(data)});
  }
  ipsec::registry_reader reader() const {
    return
        [this](ipsec::registry_hive hive,
               const std::string& key) -> outcome::std_result<std::vector<ipsec::registry_value>> {
          reads.emplace_back(hive, key);
          for (const auto& k : unreadable) {
            if (k == std::make_pair(hive, key))
              return std::make_error_code(std::errc::permission_denied);
          }
          const auto it = keys.find({hive, key});
          if (it == keys.end()) return std::vector<ipsec::registry_value>{};
          return it->second;
        };
  }
};

}  // namespace ipsec_retry::test
