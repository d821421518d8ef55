// SPDX-License-Identifier: BSL-1.0
// What the API refuses to compile ({fmt}'s compile-error-test idea). Each case is built with
// -DIPSEC_RETRY_CASE=<name>; tests/compile_fail/CMakeLists.txt expects every refused case to
// fail with its static_assert's text, and every `ok_` case (the same call done right) to
// compile, so a broken harness cannot pass. A refused case without a static_assert of its own
// (a deleted overload) is matched on the compiler's diagnostic instead.
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/ipsec/engine.hpp>
#include <ipsec_retry/retry.hpp>

#include <cstdint>

namespace ir = ipsec_retry;

#define IPSEC_RETRY_IS(name) (IPSEC_RETRY_CASE == IPSEC_RETRY_CASE_##name)
#define IPSEC_RETRY_CASE_op_returns_int 1
#define IPSEC_RETRY_CASE_op_returns_bool 2
#define IPSEC_RETRY_CASE_op_returns_pointer 3
#define IPSEC_RETRY_CASE_op_returns_double 4
#define IPSEC_RETRY_CASE_op_returns_void 5
#define IPSEC_RETRY_CASE_op_returns_long_long 6
#define IPSEC_RETRY_CASE_virtual_clock_real_sleeper 7
#define IPSEC_RETRY_CASE_real_clock_virtual_sleeper 8
#define IPSEC_RETRY_CASE_engine_temporary_guard 9
#define IPSEC_RETRY_CASE_ok_op_returns_dword 101
#define IPSEC_RETRY_CASE_ok_virtual_time 102
#define IPSEC_RETRY_CASE_ok_engine_named_guard 103

int main() {
  const ir::retry_policy policy;
  ir::virtual_time vt;
  auto options = ir::options().with_time(vt);
#if IPSEC_RETRY_IS(op_returns_int)
  (void)ir::retry(
      policy, [] { return 0; }, options);
#elif IPSEC_RETRY_IS(op_returns_bool)
  (void)ir::retry(
      policy, [] { return true; }, options);
#elif IPSEC_RETRY_IS(op_returns_pointer)
  static int object = 0;
  (void)ir::retry(
      policy, [] { return &object; }, options);
#elif IPSEC_RETRY_IS(op_returns_double)
  (void)ir::retry(
      policy, [] { return 0.0; }, options);
#elif IPSEC_RETRY_IS(op_returns_void)
  (void)ir::retry(
      policy, [] {}, options);
#elif IPSEC_RETRY_IS(op_returns_long_long)
  (void)ir::retry(
      policy, [] { return 0LL; }, options);
#elif IPSEC_RETRY_IS(virtual_clock_real_sleeper)
  (void)ir::retry(
      policy, [] { return 0u; },
      ir::retry_options<ir::virtual_clock, ir::real_sleeper>{vt.clock(), {}});
#elif IPSEC_RETRY_IS(real_clock_virtual_sleeper)
  (void)ir::retry(
      policy, [] { return 0u; },
      ir::retry_options<ir::steady_clock_source, ir::virtual_sleeper>{{}, vt.sleeper()});
#elif IPSEC_RETRY_IS(engine_temporary_guard)
  // The engine keeps a pointer to its guard: a temporary would dangle after this line.
  ir::retry_budget budget({});
  ir::ipsec::operation_engine<ir::budget_guard> engine({}, policy, ir::budget_guard{&budget},
                                                       vt.now());
  (void)engine.start(vt.now());
#elif IPSEC_RETRY_IS(ok_op_returns_dword)
  (void)ir::retry(
      policy, [] { return std::uint32_t{0}; }, options);
#elif IPSEC_RETRY_IS(ok_virtual_time)
  (void)ir::retry(
      policy, [] { return 0u; },
      ir::retry_options<ir::virtual_clock, ir::virtual_sleeper>{vt.clock(), vt.sleeper()});
#elif IPSEC_RETRY_IS(ok_engine_named_guard)
  ir::retry_budget budget({});
  const ir::budget_guard guard{&budget};
  ir::ipsec::operation_engine<ir::budget_guard> engine({}, policy, guard, vt.now());
  (void)engine.start(vt.now());
#else
#error "unknown IPSEC_RETRY_CASE"
#endif
  return 0;
}
