// SPDX-License-Identifier: BSL-1.0
// The code table, the win32 category and code parsing.
#include <ipsec_retry/win32_error.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <ostream>
#include <string>

#include "text.hpp"
#ifdef _WIN32
#include "windows_text.hpp"
#endif

namespace ipsec_retry {
namespace {

constexpr code_info table_entries[] = {
#define IPSEC_RETRY_CODE(name, value, kind, retry, load, object, role, message) \
  code_info{#name, static_cast<std::uint32_t>(value), code_kind::kind, message},
#include <ipsec_retry/detail/code_table.inc>
#undef IPSEC_RETRY_CODE
};

constexpr bool table_is_sorted() {
  for (std::size_t i = 1; i < std::size(table_entries); ++i) {
    if (!(table_entries[i - 1].value < table_entries[i].value)) return false;
  }
  return true;
}
static_assert(table_is_sorted(), "code_table.inc must be sorted by value, without duplicates");

// Name lookup: indices into table_entries sorted by name, built at compile time.
constexpr auto make_name_index() {
  std::array<std::uint16_t, std::size(table_entries)> index{};
  for (std::size_t i = 0; i < index.size(); ++i) index[i] = static_cast<std::uint16_t>(i);
  std::sort(index.begin(), index.end(), [](std::uint16_t a, std::uint16_t b) {
    return table_entries[a].name < table_entries[b].name;
  });
  return index;
}
constexpr auto name_index = make_name_index();

class win32_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "win32"; }

  std::string message(int value) const override {
    const auto normalized = static_cast<std::uint32_t>(value);
    if (const auto info = find_code(normalized)) return std::string(info->message);
#ifdef _WIN32
    // FormatMessageW reads 0x8007xxxx as Win32 code xxxx. The one such normalized value is
    // 0x80070000, a failure whose system text ("The operation completed successfully.") would
    // call it a success.
    if ((normalized & 0xFFFF0000u) != 0x80070000u) {
      if (auto text = detail::system_message_utf8(normalized); !text.empty()) return text;
    }
#endif
    return unknown_message(normalized);
  }

  // Lets `ec == std::errc::...` work for the few Windows codes that have a portable meaning.
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<std::uint32_t>(value)) {
      case 5:
        return std::errc::permission_denied;
      case 8:
      case 14:
        return std::errc::not_enough_memory;
      case 50:
      case 120:
        return std::errc::not_supported;
      case 87:
        return std::errc::invalid_argument;
      case 170:
        return std::errc::device_or_resource_busy;
      case 1223:
        return std::errc::operation_canceled;
      case 1460:
        return std::errc::timed_out;
      default:
        return {value, *this};
    }
  }

  // error_code(v, win32) == condition: also true, on Windows, for the same Windows code as a
  // std::system_category() condition (its values are GetLastError() codes).
  bool equivalent(int value, const std::error_condition& condition) const noexcept override {
#ifdef _WIN32
    if (condition.category() == std::system_category()) {
      return windows_code(std::error_code(condition.value(), condition.category())) ==
             static_cast<std::uint32_t>(value);
    }
#endif
    return std::error_category::equivalent(value, condition);
  }

  // code == error_condition(v, win32): also true, on Windows, for a std::system_category()
  // code holding the same Windows code.
  bool equivalent(const std::error_code& code, int value) const noexcept override {
#ifdef _WIN32
    if (code.category() == std::system_category()) {
      return windows_code(code) == static_cast<std::uint32_t>(value);
    }
#endif
    return std::error_category::equivalent(code, value);
  }

 private:
  static std::string unknown_message(std::uint32_t value) {
    std::array<char, 16> hex{};
    auto [end, ec] = std::to_chars(hex.data(), hex.data() + hex.size(), value, 16);
    (void)ec;
    std::string text = "Unknown Windows error 0x";
    for (char* p = hex.data(); p != end; ++p) {
      text += static_cast<char>(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    }
    return text;
  }
};

class code_parse_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsec_retry.code_parse"; }
  std::string message(int value) const override {
    switch (static_cast<code_parse_errc>(value)) {
      case code_parse_errc::empty:
        return "empty code";
      case code_parse_errc::not_a_number:
        return "not a number or a known code name";
      case code_parse_errc::out_of_range:
        return "number does not fit in 32 bits";
      case code_parse_errc::unknown_name:
        return "unknown code name";
    }
    return "unknown code parse error";
  }
};

constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

constexpr bool is_name_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

const std::error_category& win32_category() noexcept {
  static const win32_category_impl instance;
  return instance;
}

const std::error_category& code_parse_category() noexcept {
  static const code_parse_category_impl instance;
  return instance;
}

std::optional<std::uint32_t> windows_code(const std::error_code& code) noexcept {
  if (code.category() == win32_category()) return static_cast<std::uint32_t>(code.value());
#ifdef _WIN32
  // On Windows, std::system_category() values are GetLastError() codes.
  if (code.category() == std::system_category()) {
    // An HRESULT stored there (0x800732DF) normalizes like any other.
    return normalize(hresult{static_cast<std::uint32_t>(code.value())});
  }
#endif
  return std::nullopt;
}

std::span<const code_info> known_codes() noexcept {
  return table_entries;
}

std::optional<code_info> find_code(std::uint32_t normalized_value) noexcept {
  const auto* end = std::end(table_entries);
  const auto* it =
      std::lower_bound(std::begin(table_entries), end, normalized_value,
                       [](const code_info& info, std::uint32_t v) { return info.value < v; });
  if (it == end || it->value != normalized_value) return std::nullopt;
  return *it;
}

std::optional<code_info> find_code(std::string_view name) noexcept {
  const auto* it = std::lower_bound(
      name_index.begin(), name_index.end(), name,
      [](std::uint16_t i, std::string_view n) { return table_entries[i].name < n; });
  if (it == name_index.end() || table_entries[*it].name != name) return std::nullopt;
  return table_entries[*it];
}

result<std::uint32_t> parse_code(std::string_view text) noexcept {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  if (text.empty()) return code_parse_errc::empty;

  const char first = text.front();
  if ((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z') || first == '_') {
    if (!std::all_of(text.begin(), text.end(), is_name_char)) return code_parse_errc::not_a_number;
    if (const auto info = find_code(text)) return info->value;
    return code_parse_errc::unknown_name;
  }

  bool negative = false;
  std::string_view digits = text;
  if (digits.front() == '-' || digits.front() == '+') {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  if (digits.empty()) return code_parse_errc::not_a_number;
  std::uint64_t magnitude = 0;
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec == std::errc::result_out_of_range) return code_parse_errc::out_of_range;
  if (ec != std::errc{} || end != digits.data() + digits.size()) {
    return code_parse_errc::not_a_number;
  }
  std::uint32_t bits = 0;
  if (negative) {
    // A negative decimal is an HRESULT printed as a signed 32-bit LONG; -0 is 0.
    if (magnitude > 0x80000000ull) return code_parse_errc::out_of_range;
    bits = static_cast<std::uint32_t>((0x100000000ull - magnitude) & 0xFFFFFFFFull);
  } else {
    if (magnitude > 0xFFFFFFFFull) return code_parse_errc::out_of_range;
    bits = static_cast<std::uint32_t>(magnitude);
  }
  // Values with bit 31 set are HRESULTs; normalize() turns 0x8007xxxx into its Win32 code.
  if ((bits >> 31) != 0) return normalize(hresult{bits});
  return bits;
}

std::string to_string(win32_error code) {
  const std::uint32_t value = normalize(code);
  std::string number = (value >> 31) != 0 ? detail::hex(value) : std::to_string(value);
  if (const auto info = find_code(value)) return std::string(info->name) + " (" + number + ")";
  return number;
}

std::string to_string(hresult code) {
  const std::uint32_t bits = to_underlying(code);
  const std::string hex = detail::hex(bits, 8);
  if (bits == 0) return "S_OK (" + hex + ")";
  if (const auto win32 = win32_from_hresult(code)) {
    return hex + " (HRESULT_FROM_WIN32(" + to_string(*win32) + "))";
  }
  const auto info = find_code(bits);  // an HRESULT entry only: 1 is not ERROR_INVALID_FUNCTION
  if (info && info->kind == code_kind::hresult) return std::string(info->name) + " (" + hex + ")";
  return hex;
}

std::ostream& operator<<(std::ostream& out, win32_error code) {
  return out << to_string(code);
}

std::ostream& operator<<(std::ostream& out, hresult code) {
  return out << to_string(code);
}

}  // namespace ipsec_retry
