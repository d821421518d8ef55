// SPDX-License-Identifier: BSL-1.0
// The Windows registry seam (registry_source.hpp): names, the system's registry through
// RegEnumValueW, and the Group Policy watcher through RegNotifyChangeKeyValue. Off Windows
// the system registry has no keys and the watcher is not supported.
#include <ipsec_retry/ipsec/registry_source.hpp>

#include <array>
#include <string>
#include <utility>

#ifdef _WIN32
#include <windows.h>

#include <future>
#include <thread>

#include "../windows_text.hpp"
#endif

namespace ipsec_retry::ipsec {

std::string_view to_string(registry_hive hive) noexcept {
  return hive == registry_hive::local_machine ? "HKLM" : "HKCU";
}

std::string registry_type_name(std::uint32_t type) {
  // winnt.h's REG_NONE (0) to REG_QWORD (11).
  static constexpr std::array<std::string_view, 12> names{"REG_NONE",
                                                          "REG_SZ",
                                                          "REG_EXPAND_SZ",
                                                          "REG_BINARY",
                                                          "REG_DWORD",
                                                          "REG_DWORD_BIG_ENDIAN",
                                                          "REG_LINK",
                                                          "REG_MULTI_SZ",
                                                          "REG_RESOURCE_LIST",
                                                          "REG_FULL_RESOURCE_DESCRIPTOR",
                                                          "REG_RESOURCE_REQUIREMENTS_LIST",
                                                          "REG_QWORD"};
  if (type < names.size()) return std::string(names[type]);
  return "type " + std::to_string(type);
}

#ifdef _WIN32

namespace {

HKEY root_of(registry_hive hive) {
  return hive == registry_hive::local_machine ? HKEY_LOCAL_MACHINE : HKEY_CURRENT_USER;
}

std::error_code win32_code(LSTATUS status) {
  return make_error_code(static_cast<win32_error>(static_cast<std::uint32_t>(status)));
}

// Key paths are ASCII (group_policy_key and its subkeys).
std::wstring wide(std::string_view ascii) {
  return std::wstring(ascii.begin(), ascii.end());
}

struct key_closer {
  HKEY key = nullptr;
  key_closer() = default;
  key_closer(const key_closer&) = delete;
  key_closer& operator=(const key_closer&) = delete;
  ~key_closer() {
    if (key != nullptr) RegCloseKey(key);
  }
};

outcome::std_result<std::vector<registry_value>> read_values(registry_hive hive,
                                                             const std::string& path) {
  key_closer key;
  LSTATUS status = RegOpenKeyExW(root_of(hive), wide(path).c_str(), 0,
                                 KEY_QUERY_VALUE | KEY_WOW64_64KEY, &key.key);
  if (status == ERROR_FILE_NOT_FOUND || status == ERROR_PATH_NOT_FOUND) {
    return std::vector<registry_value>{};  // not configured
  }
  if (status != ERROR_SUCCESS) return win32_code(status);
  DWORD count = 0;
  DWORD longest_name = 0;  // in characters, without the NUL
  DWORD largest_data = 0;  // in bytes
  status = RegQueryInfoKeyW(key.key, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, &count,
                            &longest_name, &largest_data, nullptr, nullptr);
  if (status != ERROR_SUCCESS) return win32_code(status);
  std::vector<registry_value> values;
  std::wstring name(longest_name + 1, L'\0');
  std::vector<BYTE> data(largest_data + sizeof(wchar_t));
  for (DWORD index = 0;;) {
    DWORD name_length = static_cast<DWORD>(name.size());
    DWORD data_size = static_cast<DWORD>(data.size());
    DWORD type = 0;
    status = RegEnumValueW(key.key, index, name.data(), &name_length, nullptr, &type, data.data(),
                           &data_size);
    if (status == ERROR_NO_MORE_ITEMS) break;
    if (status == ERROR_MORE_DATA) {  // a value written since RegQueryInfoKeyW: grow, retry
      name.resize(name.size() * 2 + 64);
      data.resize(data.size() * 2 + 256);
      continue;
    }
    if (status != ERROR_SUCCESS) return win32_code(status);
    registry_value value;
    value.name = detail::utf8_from_utf16(std::wstring_view(name.data(), name_length));
    value.type = type;
    if (type == REG_SZ) {
      std::wstring_view text(reinterpret_cast<const wchar_t*>(data.data()),
                             data_size / sizeof(wchar_t));
      while (!text.empty() && text.back() == L'\0') text.remove_suffix(1);
      value.data = detail::utf8_from_utf16(text);
    }
    values.push_back(std::move(value));
    ++index;
  }
  return values;
}

}  // namespace

registry_reader system_registry() {
  return read_values;
}

// One watched key per hive: SOFTWARE\Policies (where Group Policy writes), or SOFTWARE if a
// fresh system has no Policies key yet.
struct group_policy_watcher::state {
  std::function<void()> on_change;
  HANDLE stop = nullptr;
  std::array<HKEY, 2> keys{};
  std::array<HANDLE, 2> changed{};
  std::thread thread;

  ~state() {
    for (HKEY k : keys) {
      if (k != nullptr) RegCloseKey(k);
    }
    for (HANDLE h : changed) {
      if (h != nullptr) CloseHandle(h);
    }
    if (stop != nullptr) CloseHandle(stop);
  }

  LSTATUS arm(std::size_t i) const {
    return RegNotifyChangeKeyValue(
        keys[i], TRUE, REG_NOTIFY_CHANGE_NAME | REG_NOTIFY_CHANGE_LAST_SET, changed[i], TRUE);
  }

  // The watching thread: opens and arms the keys (a notification belongs to the thread that
  // asked for it before Windows 8), reports how that went, then waits.
  void watch(std::promise<LSTATUS>& started) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const HKEY root = i == 0 ? HKEY_LOCAL_MACHINE : HKEY_CURRENT_USER;
      LSTATUS status =
          RegOpenKeyExW(root, L"SOFTWARE\\Policies", 0, KEY_NOTIFY | KEY_WOW64_64KEY, &keys[i]);
      if (status == ERROR_FILE_NOT_FOUND) {
        status = RegOpenKeyExW(root, L"SOFTWARE", 0, KEY_NOTIFY | KEY_WOW64_64KEY, &keys[i]);
      }
      if (status == ERROR_SUCCESS) status = arm(i);
      if (status != ERROR_SUCCESS) {
        started.set_value(status);
        return;
      }
    }
    started.set_value(ERROR_SUCCESS);
    const std::array<HANDLE, 3> handles{stop, changed[0], changed[1]};
    for (;;) {
      const DWORD which = WaitForMultipleObjects(static_cast<DWORD>(handles.size()), handles.data(),
                                                 FALSE, INFINITE);
      if (which == WAIT_OBJECT_0 || which == WAIT_FAILED) return;
      const std::size_t i = which - WAIT_OBJECT_0 - 1;
      if (i >= keys.size()) return;
      const bool rearmed = arm(i) == ERROR_SUCCESS;  // before on_change: nothing is missed
      on_change();
      if (!rearmed) return;
    }
  }
};

outcome::std_result<std::unique_ptr<group_policy_watcher>> group_policy_watcher::start(
    std::function<void()> on_change) {
  auto s = std::make_unique<state>();
  s->on_change = std::move(on_change);
  s->stop = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  for (HANDLE& h : s->changed) h = CreateEventW(nullptr, FALSE, FALSE, nullptr);
  if (s->stop == nullptr || s->changed[0] == nullptr || s->changed[1] == nullptr) {
    return win32_code(static_cast<LSTATUS>(GetLastError()));
  }
  std::promise<LSTATUS> started;
  std::future<LSTATUS> result = started.get_future();
  state* raw = s.get();
  s->thread = std::thread([raw, &started] { raw->watch(started); });
  if (const LSTATUS status = result.get(); status != ERROR_SUCCESS) {
    s->thread.join();
    return win32_code(status);
  }
  return std::unique_ptr<group_policy_watcher>(new group_policy_watcher(std::move(s)));
}

group_policy_watcher::~group_policy_watcher() {
  SetEvent(state_->stop);
  state_->thread.join();
}

#else  // not Windows

registry_reader system_registry() {
  return [](registry_hive, const std::string&) -> outcome::std_result<std::vector<registry_value>> {
    return std::vector<registry_value>{};
  };
}

struct group_policy_watcher::state {};

outcome::std_result<std::unique_ptr<group_policy_watcher>> group_policy_watcher::start(
    std::function<void()>) {
  return std::make_error_code(std::errc::not_supported);
}

group_policy_watcher::~group_policy_watcher() = default;

#endif

group_policy_watcher::group_policy_watcher(std::unique_ptr<state> s) noexcept
    : state_(std::move(s)) {}

}  // namespace ipsec_retry::ipsec
