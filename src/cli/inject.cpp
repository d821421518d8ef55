// SPDX-License-Identifier: BSL-1.0
// `simulate --inject N:CODE`: parse, check, then script the simulated agent's faults.
#include "inject.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

namespace ipsec_retry::cli {
namespace {

constexpr std::string_view usage =
    "expected N:CODE, N the call number (1, 2, ...) and CODE a code as for explain (e.g. 3:5 or "
    "3:ERROR_ACCESS_DENIED)";

struct fault {
  std::uint64_t call;
  std::uint32_t code;
};

// One `N:CODE`, or the reason it is refused (everything after "bad --inject 'SPEC': ").
std::pair<std::optional<fault>, std::string> parse_fault(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  if (colon == std::string_view::npos) return {std::nullopt, std::string(usage)};
  const std::string_view number = spec.substr(0, colon);
  std::uint64_t call = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), call);
  if (ec == std::errc::result_out_of_range) {
    return {std::nullopt, "call number " + std::string(number) + " does not fit in 64 bits; " +
                              std::string(usage)};
  }
  if (ec != std::errc{} || end != number.data() + number.size()) {
    return {std::nullopt, std::string(usage)};
  }
  if (call == 0) return {std::nullopt, "call numbers start at 1; " + std::string(usage)};
  const auto code = parse_code(spec.substr(colon + 1));
  if (!code) return {std::nullopt, std::string(usage) + "; CODE: " + code.error().message()};
  if (code.value() == 0) {
    return {std::nullopt,
            "CODE ERROR_SUCCESS (0) is not a fault: the agent returns it by itself when the "
            "call succeeds"};
  }
  return {fault{call, code.value()}, std::string()};
}

}  // namespace

bool inject_faults(const std::vector<std::string>& specs, ipsec::simulated_agent& agent,
                   std::ostream& err, std::uint64_t setup_calls) {
  std::vector<std::pair<fault, const std::string*>> faults;
  faults.reserve(specs.size());
  for (const std::string& spec : specs) {
    auto [parsed, why] = parse_fault(spec);
    if (!parsed) {
      err << "ipsec-retry simulate: bad --inject '" << spec << "': " << why << '\n';
      return false;
    }
    for (const auto& [earlier, earlier_spec] : faults) {
      if (earlier.call == parsed->call) {
        err << "ipsec-retry simulate: bad --inject '" << spec << "': call " << parsed->call
            << " is already injected (by '" << *earlier_spec << "')\n";
        return false;
      }
    }
    faults.emplace_back(*parsed, &spec);
  }
  for (const auto& [f, spec] : faults) agent.inject(setup_calls + f.call, win32_error{f.code});
  return true;
}

}  // namespace ipsec_retry::cli
