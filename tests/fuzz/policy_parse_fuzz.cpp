// SPDX-License-Identifier: BSL-1.0
// Fuzz target: retry_policy::parse never crashes, errors are well-formed, and
// parse -> format -> parse is a fixed point.
#include <ipsec_retry/retry_policy.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = ipsec_retry::retry_policy::parse(text);
  if (!parsed) {
    const auto& e = parsed.error();
    if (e.message().empty() || e.column > size + 1) std::abort();
    return 0;
  }
  const std::string formatted = parsed.value().format();
  const auto again = ipsec_retry::retry_policy::parse(formatted);
  if (!again) std::abort();                               // format() must always parse
  if (!(again.value() == parsed.value())) std::abort();   // to the same policy
  if (again.value().format() != formatted) std::abort();  // and format is a fixed point
  return 0;
}
