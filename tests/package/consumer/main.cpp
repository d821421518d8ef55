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
  return ir::make_error_code(ir::win32_error{code.value()}).message() ==
                 "The Quick Mode policy is pending deletion."
             ? 0
             : 1;
}
