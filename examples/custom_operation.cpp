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
  // On Windows: [&] { return ::FwpmFilterAdd0(engine, &filter, nullptr, &id); } (HRESULT is a
  // LONG, which the loop reads as an HRESULT).
  const auto policy = ir::retry_policy::parse("timeout=2s, initial=25ms, jitter=none").value();
  const auto r = ir::retry(
      policy, fwpm_filter_add0_stand_in,
      ir::retry_options{.on_retry = [](std::uint32_t call, const std::error_code& code,
                                       std::chrono::nanoseconds next) {
        std::cout << "call " << call << ": " << code.message() << " -> retry in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(next).count() << " ms\n";
      }});
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
