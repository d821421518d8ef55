// SPDX-License-Identifier: BSL-1.0
// Windows-only helpers: system message text as UTF-8, UTF-8 <-> UTF-16. Compiled only on _WIN32.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ipsec_retry::detail {

/// FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM) for `code` (a Win32 code or an HRESULT), converted
/// to UTF-8 with the trailing CR/LF and blanks removed; empty when Windows has no text for it.
std::string system_message_utf8(std::uint32_t code);

/// UTF-16 to UTF-8 (WideCharToMultiByte); invalid sequences become U+FFFD.
std::string utf8_from_utf16(std::wstring_view text);

/// UTF-8 to UTF-16 (MultiByteToWideChar); invalid sequences become U+FFFD.
std::wstring utf16_from_utf8(std::string_view text);

}  // namespace ipsec_retry::detail
