// SPDX-License-Identifier: BSL-1.0
// A downstream program: uses the umbrella header and the installed library.
#include <ipsec_retry/ipsec_retry.hpp>

#include <iostream>

#ifdef CONSUMER_PACKAGE_VERSION
static_assert(IPSEC_RETRY_VERSION == (CONSUMER_PACKAGE_VERSION),
              "the CMake package version differs from IPSEC_RETRY_VERSION");
#endif

int main() {
  namespace ir = ipsec_retry;
  const auto code = ir::parse_code("0x800732DF");
  if (!code) return 1;
  const auto info = ir::find_code(code.value());
  if (!info) return 1;
  const ir::classifier classify;
  std::cout << "consumer ok: " << code.value() << ' ' << info->name << ' '
            << ir::to_string(classify(code.value())) << '\n';
  if (ir::make_error_code(ir::win32_error{code.value()}).message() !=
      "The Quick Mode policy is pending deletion.") {
    return 1;
  }
  // The 0.2 API as a user meets it from an install: builders, virtual time, events, the long
  // rule (a long 13023 is retried, not a success) and a site name on the error.
  ir::virtual_time vt;
  int events = 0;
  const auto r = ir::retry(
      ir::retry_policy::parse("attempts=3, initial=10ms, jitter=none").value(),
      [] { return 13023L; },
      ir::options().with_time(vt).with_site("qm.delete").with_on_event([&](const ir::retry_event&) {
        ++events;
      }));
  if (r || r.error().calls != 3 || events != 3 || vt.elapsed() != std::chrono::milliseconds(30)) {
    return 1;
  }
  std::cout << r.error().message() << '\n' << ir::win32_error{13023} << '\n';
  return 0;
}
