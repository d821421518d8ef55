// SPDX-License-Identifier: BSL-1.0
// Wrapping any other call: a WFP-style function that returns an HRESULT.
//
// The typed wrappers cover the Policy Agent's policies; everything else (WFP's Fwpm* functions,
// SetQMPolicy with your own SDK structures, filters) goes through the generic retry(). Any
// callable returning a Win32 code, an HRESULT, a std::error_code or a result<T> works.
//
// WFP's FWP_E_TIMEOUT (0x80320012) means "timed out waiting for the transaction lock": another
// session holds it. It is transient by default, so the call is simply tried again.
#include <ipsec_retry/retry.hpp>

#include <iostream>

namespace ir = ipsec_retry;

namespace {

// A stand-in with FwpmFilterAdd0's shape (this example runs everywhere, including under Wine,
// whose fwpuclnt.dll is a stub): the first two calls find the transaction lock taken.
int calls = 0;
ir::hresult fwpm_filter_add0_stand_in() {
  ++calls;
  return calls < 3 ? ir::hresult{0x80320012} /* FWP_E_TIMEOUT */ : ir::hresult::s_ok;
}

}  // namespace

int main() {
  // On Windows: [&] { return ::FwpmFilterAdd0(engine, &filter, nullptr, &id); } (a DWORD: WFP's
  // Fwpm* functions return FWP_E_* HRESULTs in a DWORD, which the loop normalizes as HRESULTs).
  const auto policy = ir::retry_policy::parse("timeout=2s, initial=25ms, jitter=none").value();
  const auto r = ir::retry(
      policy, fwpm_filter_add0_stand_in,
      ir::options().with_site("wfp.add_filter").with_on_event([](const ir::retry_event& e) {
        std::cout << "call " << e.call << " (" << ir::format_human_duration(e.attempt)
                  << "): " << (e.code ? e.code.message() : std::string("success"));
        if (e.what == ir::retry_event::kind::retrying) {
          std::cout << " -> retry in " << ir::format_human_duration(e.next_delay);
        }
        std::cout << '\n';
      }));
  if (!r) {
    std::cout << "FwpmFilterAdd0 failed: " << r.error().message() << '\n';
    return 1;
  }
  std::cout << "FwpmFilterAdd0 succeeded on call " << calls << '\n';

  // A permanent failure is not retried, and the error says exactly what happened.
  const auto denied = ir::retry(policy, [] { return ir::hresult{0x80070005}; });  // E_ACCESSDENIED
  std::cout << "A permanent failure: " << denied.error().message() << '\n';
  return denied ? 1 : 0;
}
