// SPDX-License-Identifier: BSL-1.0
// What the op may return (detail/op_result.hpp): every code of the table through every
// supported return type gets the Win32 code's default verdict, and no type turns a failure into
// a success. Built natively and with MinGW (run under Wine), where HRESULT, LSTATUS and the
// winerror.h constants are `long`.
#include <ipsec_retry/retry.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#endif

namespace ir = ipsec_retry;
using namespace std::chrono_literals;

namespace {

// Two calls at most, 1 ms apart, in virtual time: success ends after 1 call, a transient code
// after 2 (attempts_exhausted), a permanent one after 1 (permanent_error).
const ir::retry_policy& two_calls() {
  static const ir::retry_policy p =
      ir::retry_policy::parse("attempts=2, initial=1ms, jitter=none, timeout=none").value();
  return p;
}

struct outcome_seen {
  ir::verdict verdict;
  std::uint32_t calls;
  std::error_code code;  // the failure's code; empty on success
};

template <class R>
outcome_seen run(R value) {
  ir::virtual_time vt;
  const auto r = ir::retry(
      two_calls(), [&] { return value; }, ir::options().with_time(vt));
  if (r) return {ir::verdict::success, 1, {}};
  const ir::verdict v = r.error().reason == ir::stop_reason::attempts_exhausted
                            ? ir::verdict::transient
                            : ir::verdict::permanent;
  return {v, r.error().calls, r.error().code};
}

// The HRESULT form of a table entry: HRESULT_FROM_WIN32 for Win32 codes, the value itself for
// FWP_E_* entries.
std::uint32_t hresult_bits(const ir::code_info& info) {
  return info.kind == ir::code_kind::hresult
             ? info.value
             : ir::to_underlying(ir::hresult_from_win32(ir::win32_error{info.value}));
}

struct matrix_counts {
  int cases = 0;
  int false_successes = 0;
};

// One return type, one spelling of the code: checks the verdict and that a failure keeps the
// code whole.
template <class R>
void check(matrix_counts& counts, const ir::code_info& info, R value, const char* type,
           bool refuses_success_codes = false) {
  const ir::verdict expected = ir::default_verdict(info.value);
  const outcome_seen seen = run(value);
  ++counts.cases;
  if (seen.verdict == ir::verdict::success && expected != ir::verdict::success) {
    ++counts.false_successes;
  }
  const std::string where = std::string(type) + " holding " + std::string(info.name);
  if (refuses_success_codes && expected == ir::verdict::success && info.value != 0) {
    // result<T>: a warning in the error slot is refused, never silently dropped.
    EXPECT_EQ(seen.verdict, ir::verdict::permanent) << where;
    EXPECT_EQ(seen.code, ir::make_error_code(ir::win32_error{info.value})) << where;
    return;
  }
  EXPECT_EQ(seen.verdict, expected) << where;
  if (expected != ir::verdict::success) {
    EXPECT_EQ(seen.code, ir::make_error_code(ir::win32_error{info.value})) << where;
    EXPECT_EQ(seen.calls, expected == ir::verdict::transient ? 2u : 1u) << where;
  }
}

}  // namespace

TEST(OpResultMatrix, EveryCodeThroughEveryReturnTypeGetsItsDefaultVerdict) {
  matrix_counts counts;
  for (const ir::code_info& info : ir::known_codes()) {
    const std::uint32_t h = hresult_bits(info);
    check(counts, info, info.value, "std::uint32_t");
    check(counts, info, static_cast<unsigned int>(info.value), "unsigned int");
    check(counts, info, ir::win32_error{info.value}, "win32_error");
    check(counts, info, h, "std::uint32_t (HRESULT bits)");
    check(counts, info, static_cast<long>(static_cast<std::int32_t>(h)), "long (HRESULT)");
    if (info.kind == ir::code_kind::win32) {
      check(counts, info, static_cast<long>(info.value), "long (Win32 code)");
    }
    check(counts, info, ir::hresult{h}, "hresult");
    check(counts, info, ir::make_error_code(ir::win32_error{info.value}), "std::error_code");
    check(counts, info, ir::make_error_code(ir::hresult{h}), "std::error_code (HRESULT)");
    const ir::result<int> as_int =
        info.value == 0 ? ir::result<int>(7)
                        : ir::result<int>(ir::make_error_code(ir::win32_error{info.value}));
    check(counts, info, as_int, "result<int>", true);
    const ir::result<void> as_void =
        info.value == 0 ? ir::result<void>(ir::outcome::success())
                        : ir::result<void>(ir::make_error_code(ir::win32_error{info.value}));
    check(counts, info, as_void, "result<void>", true);
#ifdef _WIN32
    // The SDK's own typedefs, as natural Windows code returns them.
    check(counts, info, static_cast<DWORD>(info.value), "DWORD");
    check(counts, info, static_cast<ULONG>(info.value), "ULONG");
    check(counts, info, static_cast<UINT>(info.value), "UINT");
    check(counts, info, static_cast<HRESULT>(h), "HRESULT");
    if (info.kind == ir::code_kind::win32) {
      check(counts, info, static_cast<LSTATUS>(info.value), "LSTATUS");
      check(counts, info, static_cast<LONG>(info.value), "LONG");
      check(counts, info, HRESULT_FROM_WIN32(info.value), "HRESULT_FROM_WIN32");
    }
#endif
  }
  EXPECT_EQ(counts.false_successes, 0);
  int expected_cases = 0;  // 11 spellings of a Win32 code, 10 of an FWP_E_* HRESULT
  for (const ir::code_info& info : ir::known_codes()) {
    expected_cases += info.kind == ir::code_kind::win32 ? 11 : 10;
  }
#ifdef _WIN32
  for (const ir::code_info& info : ir::known_codes()) {
    expected_cases += info.kind == ir::code_kind::win32 ? 7 : 4;
  }
#endif
  EXPECT_EQ(counts.cases, expected_cases);
  std::printf("op result matrix: %d cases, %d false successes\n", counts.cases,
              counts.false_successes);
}

// Finding (issue 11): on Windows a bare `long` was read as an HRESULT, so
// `return ERROR_IPSEC_QM_POLICY_PENDING_DELETION;` (a long 13023) reported success after 1 call.
TEST(OpResult, LongPendingDeletionIsRetriedNotSuccess) {
  const outcome_seen seen = run(13023L);
  EXPECT_EQ(seen.verdict, ir::verdict::transient);
  EXPECT_EQ(seen.calls, 2u);
  EXPECT_EQ(seen.code, ir::win32_error::ipsec_qm_policy_pending_deletion);
}

// Finding (issue 11): RegOpenKeyExW returning 87 (an LSTATUS, i.e. long) reported success.
TEST(OpResult, LongInvalidParameterIsPermanent) {
  const outcome_seen seen = run(87L);
  EXPECT_EQ(seen.verdict, ir::verdict::permanent);
  EXPECT_EQ(seen.code, ir::win32_error::invalid_parameter);
}

TEST(OpResult, NegativeLongIsAnHresult) {
  const outcome_seen seen = run(static_cast<long>(static_cast<std::int32_t>(0x800732DFu)));
  EXPECT_EQ(seen.verdict, ir::verdict::transient);
  EXPECT_EQ(seen.code, ir::win32_error::ipsec_qm_policy_pending_deletion);
}

TEST(OpResult, LongValueIsPassedThrough) {
  ir::virtual_time vt;
  const auto r = ir::retry(
      two_calls(), [] { return 13025L; }, ir::options().with_time(vt));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), 13025L) << "the warning stays visible";
}

// Positive success HRESULTs need the explicit type: S_FALSE as a long is Win32 code 1
// (ERROR_INVALID_FUNCTION), a failure, never a success the op did not mean.
TEST(OpResult, SFalseNeedsTheHresultType) {
  EXPECT_EQ(run(1L).verdict, ir::verdict::permanent);
  EXPECT_EQ(run(ir::hresult{1}).verdict, ir::verdict::success);
}

// Finding (issue 11): the failure HRESULT 0x80070000 (FACILITY_WIN32, code 0) was read as
// success. Through every type it is a failure.
TEST(OpResult, FailureHresult80070000IsNeverSuccess) {
  EXPECT_EQ(run(0x80070000u).verdict, ir::verdict::permanent);
  EXPECT_EQ(run(static_cast<long>(static_cast<std::int32_t>(0x80070000u))).verdict,
            ir::verdict::permanent);
  EXPECT_EQ(run(ir::hresult{0x80070000u}).verdict, ir::verdict::permanent);
  EXPECT_TRUE(run(ir::hresult{0x80070000u}).code) << "and its code is not falsy";
}

#if defined(__LP64__)
// A 64-bit long outside the 32-bit range is no Windows code (only possible off Windows).
TEST(OpResult, LongOutsideThirtyTwoBitsIsPermanent) {
  const outcome_seen seen = run(0x1'0000'0000L);
  EXPECT_EQ(seen.verdict, ir::verdict::permanent);
  EXPECT_EQ(seen.code, std::make_error_code(std::errc::value_too_large));
  EXPECT_EQ(run(std::numeric_limits<long>::min()).verdict, ir::verdict::permanent);
}
#endif

// S_FALSE is a success even at a site that retries Win32 code 1 (ERROR_INVALID_FUNCTION): the
// lists hold Win32 codes, and hresult{1} is not one.
TEST(OpResult, SFalseStaysSuccessWhenWin32CodeOneIsRetried) {
  ir::virtual_time vt;
  const auto p = ir::retry_policy::parse("retry_on=1, attempts=2, initial=1ms").value();
  const auto r = ir::retry(
      p, [] { return ir::hresult{1}; }, ir::options().with_time(vt));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), ir::hresult{1});
  int calls = 0;
  const auto w = ir::retry(
      p, [&] { return ++calls < 2 ? 1u : 0u; }, ir::options().with_time(vt));
  EXPECT_TRUE(w);
  EXPECT_EQ(calls, 2) << "the DWORD 1 is the Win32 code the site retries";
}
