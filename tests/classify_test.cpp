// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/classify.hpp>

#include <gtest/gtest.h>

#include <set>

namespace ir = ipsec_retry;
using ir::verdict;

namespace {

const std::set<std::uint32_t> success_codes = {0, 13024, 13025};
const std::set<std::uint32_t> transient_codes = {13018, 13019, 13020, 13021, 13022, 13023,     1722,
                                                 1723,  1727,  1753,  170,   1237,  0x80320012};
const std::set<std::uint32_t> idempotent_only_codes = {1726, 1820, 1818, 1460};

verdict expected_verdict(std::uint32_t code, ir::idempotency site) {
  if (success_codes.count(code)) return verdict::success;
  if (transient_codes.count(code)) return verdict::transient;
  if (idempotent_only_codes.count(code)) {
    return site == ir::idempotency::idempotent ? verdict::transient : verdict::permanent;
  }
  return verdict::permanent;
}

}  // namespace

TEST(DefaultVerdict, EveryKnownCodeAtBothKindsOfCallSite) {
  for (const auto& info : ir::known_codes()) {
    for (auto site : {ir::idempotency::non_idempotent, ir::idempotency::idempotent}) {
      EXPECT_EQ(ir::default_verdict(info.value, site), expected_verdict(info.value, site))
          << info.name << " idempotent=" << (site == ir::idempotency::idempotent);
    }
  }
}

TEST(DefaultVerdict, EveryListedCodeIsInTheTable) {
  for (const auto& set : {success_codes, transient_codes, idempotent_only_codes}) {
    for (std::uint32_t code : set) EXPECT_TRUE(ir::find_code(code)) << code;
  }
}

TEST(DefaultVerdict, UnknownCodesArePermanent) {
  for (std::uint32_t code : {1u, 99999u, 13026u, 0x80320013u, 0x8BADF00Du, 0xFFFFFFFFu}) {
    EXPECT_EQ(ir::default_verdict(code, ir::idempotency::idempotent), verdict::permanent) << code;
  }
}

TEST(Classifier, HresultAndWin32SpellingsGetTheSameVerdict) {
  const ir::classifier c;
  EXPECT_EQ(c(ir::hresult{0x800732DF}), verdict::transient);
  EXPECT_EQ(c(ir::win32_error::ipsec_qm_policy_pending_deletion), verdict::transient);
  EXPECT_EQ(c(ir::hresult::fwp_e_timeout), verdict::transient);
  EXPECT_EQ(c(ir::hresult{0x800706BE}), verdict::permanent);  // RPC_S_CALL_FAILED, non-idempotent
  EXPECT_EQ(c(ir::hresult::s_ok), verdict::success);
}

TEST(Classifier, ErrorCodes) {
  const ir::classifier c;
  EXPECT_EQ(c(std::error_code{}), verdict::success);
  EXPECT_EQ(c(ir::make_error_code(ir::win32_error::busy)), verdict::transient);
  EXPECT_EQ(c(ir::make_error_code(ir::win32_error::warning_ipsec_qm_policy_pruned)),
            verdict::success);
  // Not a Windows code: never retried, whatever its value.
  EXPECT_EQ(c(std::make_error_code(std::errc::resource_unavailable_try_again)), verdict::permanent);
}

TEST(Classifier, IdempotentSitesRetryAmbiguousTransportFailures) {
  const ir::classifier plain;
  const ir::classifier idempotent{ir::idempotency::idempotent};
  for (std::uint32_t code : idempotent_only_codes) {
    EXPECT_EQ(plain(code), verdict::permanent) << code;
    EXPECT_EQ(idempotent(code), verdict::transient) << code;
  }
}

TEST(Classifier, PerSiteAdjustmentsAndTheirPrecedence) {
  ir::classifier c;
  EXPECT_TRUE(c.retry_on(5));            // ERROR_ACCESS_DENIED becomes transient
  EXPECT_TRUE(c.never_retry(1722));      // RPC_S_SERVER_UNAVAILABLE becomes permanent
  EXPECT_TRUE(c.map_to_success(13001));  // QM policy NOT_FOUND counts as done
  EXPECT_EQ(c(5u), verdict::transient);
  EXPECT_EQ(c(1722u), verdict::permanent);
  EXPECT_EQ(c(13001u), verdict::success);
  EXPECT_EQ(c(13023u), verdict::transient);  // untouched codes keep their default
  EXPECT_EQ(c(87u), verdict::permanent);

  // map_to_success beats never_retry, which beats retry_on.
  c.retry_on(42);
  c.never_retry(42);
  EXPECT_EQ(c(42u), verdict::permanent);
  c.map_to_success(42);
  EXPECT_EQ(c(42u), verdict::success);
}

TEST(Classifier, AdjustmentsAreBoundedAndNeverAllocate) {
  ir::classifier c;
  for (std::uint32_t code = 1; code <= ir::code_set::capacity; ++code) {
    EXPECT_TRUE(c.retry_on(code));
  }
  EXPECT_TRUE(c.retry_on(1));  // already present: still fine
  EXPECT_FALSE(c.retry_on(1000)) << "past capacity the code must be refused, not dropped silently";
  EXPECT_EQ(c(1000u), verdict::permanent);
  EXPECT_EQ(c.retry_on_codes().size(), ir::code_set::capacity);
}

TEST(Classifier, IsAComparableValue) {
  ir::classifier a, b;
  EXPECT_EQ(a, b);
  a.retry_on(5);
  EXPECT_NE(a, b);
  b.retry_on(5);
  EXPECT_EQ(a, b);
}

TEST(Classifier, IsUsableAtCompileTime) {
  constexpr auto c = [] {
    ir::classifier x;
    x.map_to_success(13001);
    return x;
  }();
  static_assert(c(13001u) == verdict::success);
  static_assert(c(13023u) == verdict::transient);
  static_assert(ir::to_string(verdict::transient) == "transient");
}
