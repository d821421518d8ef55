// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::ipsec: the Windows registry as a source of call-site configuration (Group
// Policy), behind a small seam so the logic is tested with a fake registry anywhere.
//
// An administrator sets per-site limits for a fleet with Group Policy or Intune (the ADMX
// template in admx/ writes exactly these values; docs/windows.md, "Group Policy"):
//
//   HKLM\SOFTWARE\Policies\ipsec_retry\Sites     qm.delete  REG_SZ  "timeout=90s, budget=agent"
//   HKLM\SOFTWARE\Policies\ipsec_retry\Budgets   agent      REG_SZ  "max_tokens=20"
//   HKLM\SOFTWARE\Policies\ipsec_retry\Breakers  agent      REG_SZ  "cool_down=1min"
//   (and the same under HKCU; HKLM wins)
//
// call_site_registry::load_registry() and reload() read them (call_sites.hpp); a watcher
// tells a service when Group Policy has rewritten them:
//
//   auto watcher = group_policy_watcher::start([&] {
//     if (auto r = sites.reload(from); !r) log(r.error().message());  // all or nothing
//   });
#pragma once

#include <ipsec_retry/win32_error.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ipsec_retry::ipsec {

/// The key under each hive that holds the subkeys Sites, Budgets and Breakers.
inline constexpr std::string_view group_policy_key = "SOFTWARE\\Policies\\ipsec_retry";

/// The two hives read, in precedence order (lowest first).
enum class registry_hive { current_user, local_machine };
/// "HKCU", "HKLM".
std::string_view to_string(registry_hive hive) noexcept;

/// Registry value types (winnt.h's REG_* numbers); only REG_SZ is accepted.
inline constexpr std::uint32_t reg_sz = 1;
/// "REG_SZ", "REG_DWORD", ... or "type N" for a number without a name.
std::string registry_type_name(std::uint32_t type);

/// One value of a registry key: its name, its type, and a REG_SZ's text in UTF-8 without the
/// terminating NUL (empty for other types).
struct registry_value {
  std::string name;
  std::uint32_t type = reg_sz;
  std::string data;
};

/// The seam: the values of `key` (a path under the hive, e.g.
/// "SOFTWARE\\Policies\\ipsec_retry\\Sites") in any order. A key that does not exist has no
/// values (an empty list); one that exists but cannot be read is an error.
using registry_reader = std::function<outcome::std_result<std::vector<registry_value>>(
    registry_hive hive, const std::string& key)>;

/// The system's registry. Windows: RegOpenKeyExW(KEY_QUERY_VALUE | KEY_WOW64_64KEY, so a
/// 32-bit program reads the same 64-bit view as Group Policy writes) and RegEnumValueW, REG_SZ
/// data converted from UTF-16 to UTF-8. Elsewhere: a registry without keys.
registry_reader system_registry();

/// Calls `on_change` on its own thread after every change under HKLM\SOFTWARE\Policies or
/// HKCU\SOFTWARE\Policies (where a Group Policy refresh writes; RegNotifyChangeKeyValue on the
/// subtree), until it is destroyed. Changes made while `on_change` runs are not lost: the
/// watch is re-armed before it is called. Windows only: elsewhere start() returns
/// std::errc::not_supported.
class group_policy_watcher {
 public:
  /// Starts watching; an error if a key cannot be opened or watched (the Win32 code).
  static outcome::std_result<std::unique_ptr<group_policy_watcher>> start(
      std::function<void()> on_change);
  /// Stops watching and waits for a running `on_change` to return.
  ~group_policy_watcher();
  group_policy_watcher(const group_policy_watcher&) = delete;
  group_policy_watcher& operator=(const group_policy_watcher&) = delete;

 private:
  struct state;
  explicit group_policy_watcher(std::unique_ptr<state> s) noexcept;
  std::unique_ptr<state> state_;
};

}  // namespace ipsec_retry::ipsec
