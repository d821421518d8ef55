// SPDX-License-Identifier: BSL-1.0
// Fuzz target: parse_code (behind `ipsec-retry explain`) never crashes, and what it accepts
// round-trips through the table and the category.
#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ir = ipsec_retry;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = ir::parse_code(text);
  if (!parsed) {
    if (parsed.error().category() != ir::code_parse_category()) std::abort();
    return 0;
  }
  const std::uint32_t value = parsed.value();
  // Normalized: never an HRESULT that wraps a Win32 code.
  if (ir::normalize(ir::hresult{value}) != value && (value >> 31) != 0) std::abort();
  // Decimal spelling round-trips (HRESULTs as their unsigned 32-bit value).
  if (ir::parse_code(std::to_string(value)).value() != value) std::abort();
  if (const auto info = ir::find_code(value)) {
    if (ir::parse_code(info->name).value() != value) std::abort();
    if (ir::make_error_code(ir::win32_error{value}).message() != info->message) std::abort();
  } else if (ir::make_error_code(ir::win32_error{value}).message().empty()) {
    std::abort();
  }
  // Every code gets a verdict; unknown codes are never retried.
  const auto v = ir::default_verdict(value, ir::idempotency::idempotent);
  if (!ir::find_code(value) && v != ir::verdict::permanent) std::abort();
  return 0;
}
