// SPDX-License-Identifier: BSL-1.0
// The one code table (include/ipsec_retry/detail/code_table.inc): its meaning columns agree with
// the classification docs/policies.md documents, and every lookup derived from it agrees with
// the others. Names and messages are checked against winerror.h in win32_error_test.cpp.
#include <gtest/gtest.h>
#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/guards.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace {

using namespace ipsec_retry;

// docs/policies.md, "Default classification".
const std::set<std::uint32_t> documented_success{0, 13024, 13025};
const std::set<std::uint32_t> documented_transient{
    13018, 13019, 13020, 13021, 13022, 13023, 1722, 1723, 1727, 1753, 170, 1237, 0x80320012u};
const std::set<std::uint32_t> documented_if_idempotent{1726, 1820, 1818, 1460};
// docs/protection.md: the transport failures, and the other codes a budget is charged for.
const std::set<std::uint32_t> documented_transport{1722, 1723, 1726, 1727, 1753, 1820};
const std::set<std::uint32_t> documented_overload_only{170, 1460, 0x80320012u};

constexpr object_kind all_kinds[] = {object_kind::qm_policy,       object_kind::mm_policy,
                                     object_kind::mm_auth_methods, object_kind::transport_filter,
                                     object_kind::tunnel_filter,   object_kind::mm_filter};

bool known(std::uint32_t value) {
  return find_code(value).has_value();
}

TEST(CodeMeaning, EveryRowsVerdictIsTheDocumentedOne) {
  std::size_t non_permanent = 0;
  for (const code_info& row : known_codes()) {
    SCOPED_TRACE(std::string(row.name));
    const verdict plain = default_verdict(row.value, idempotency::non_idempotent);
    const verdict idempotent = default_verdict(row.value, idempotency::idempotent);
    if (documented_success.contains(row.value)) {
      EXPECT_EQ(plain, verdict::success);
      EXPECT_EQ(idempotent, verdict::success);
    } else if (documented_transient.contains(row.value)) {
      EXPECT_EQ(plain, verdict::transient);
      EXPECT_EQ(idempotent, verdict::transient);
    } else if (documented_if_idempotent.contains(row.value)) {
      EXPECT_EQ(plain, verdict::permanent);
      EXPECT_EQ(idempotent, verdict::transient);
    } else {
      EXPECT_EQ(plain, verdict::permanent);
      EXPECT_EQ(idempotent, verdict::permanent);
      continue;
    }
    ++non_permanent;
  }
  // Every documented code is a row: none of them is permanent by being absent.
  EXPECT_EQ(non_permanent, documented_success.size() + documented_transient.size() +
                               documented_if_idempotent.size());
}

TEST(CodeMeaning, AmbiguousIsExactlyTheIfIdempotentRows) {
  for (const code_info& row : known_codes()) {
    SCOPED_TRACE(std::string(row.name));
    EXPECT_EQ(is_ambiguous_failure(row.value), documented_if_idempotent.contains(row.value));
    // Only an unknown outcome makes the verdict depend on the site.
    EXPECT_EQ(default_verdict(row.value, idempotency::idempotent) !=
                  default_verdict(row.value, idempotency::non_idempotent),
              is_ambiguous_failure(row.value));
  }
}

TEST(CodeMeaning, LoadColumnGivesTheDocumentedTransportAndOverloadSets) {
  std::size_t transport = 0;
  std::size_t overload = 0;
  for (const code_info& row : known_codes()) {
    SCOPED_TRACE(std::string(row.name));
    EXPECT_EQ(is_transport_failure(row.value), documented_transport.contains(row.value));
    EXPECT_EQ(signals_overload(row.value), documented_transport.contains(row.value) ||
                                               documented_overload_only.contains(row.value));
    if (is_transport_failure(row.value)) {
      ++transport;
      EXPECT_TRUE(signals_overload(row.value)) << "transport implies overload";
    }
    if (signals_overload(row.value)) ++overload;
  }
  EXPECT_EQ(transport, documented_transport.size());
  EXPECT_EQ(overload, documented_transport.size() + documented_overload_only.size());
  // A pending deletion is one object's state, never a sign of load (docs/protection.md).
  for (std::uint32_t code = 13018; code <= 13023; ++code) EXPECT_FALSE(signals_overload(code));
}

TEST(CodeMeaning, CodesThatAreNotRowsMeanNothing) {
  std::size_t unknown = 0;
  const auto check = [&unknown](std::uint32_t value) {
    if (known(value)) return;
    ++unknown;
    SCOPED_TRACE(value);
    EXPECT_EQ(default_verdict(value, idempotency::non_idempotent), verdict::permanent);
    EXPECT_EQ(default_verdict(value, idempotency::idempotent), verdict::permanent);
    EXPECT_FALSE(is_ambiguous_failure(value));
    EXPECT_FALSE(is_transport_failure(value));
    EXPECT_FALSE(signals_overload(value));
    EXPECT_FALSE(object_code_of(value).has_value());
  };
  for (std::uint32_t value = 0; value < 14000; ++value) check(value);
  for (std::uint32_t value = 0x80320000u; value < 0x80320040u; ++value) check(value);
  for (std::uint32_t value : {0x80070000u, 0xC0000005u, 0xFFFFFFFFu, 0x7FFFFFFFu}) check(value);
  EXPECT_GT(unknown, 13000u);
}

TEST(CodeMeaning, EveryObjectCodeRoundTripsThroughObjectCodeOf) {
  constexpr std::string_view role_suffix[] = {"_EXISTS", "_NOT_FOUND", "_IN_USE",
                                              "_PENDING_DELETION"};
  constexpr std::string_view object_infix[] = {"_QM_POLICY_",     "_MM_POLICY_",
                                               "_MM_AUTH_",       "_TRANSPORT_FILTER_",
                                               "_TUNNEL_FILTER_", "_MM_FILTER_"};
  std::size_t object_codes_seen = 0;
  for (const object_kind kind : all_kinds) {
    const object_codes codes = codes_for(kind);
    const win32_error fields[] = {codes.exists, codes.not_found, codes.in_use,
                                  codes.pending_deletion};
    for (std::size_t r = 0; r < 4; ++r) {
      const auto role = static_cast<object_code_role>(r);
      if (fields[r] == win32_error{}) {
        // Only filters lack a code, and only IN_USE: nothing can reference a filter.
        EXPECT_TRUE(kind == object_kind::transport_filter || kind == object_kind::tunnel_filter ||
                    kind == object_kind::mm_filter);
        EXPECT_EQ(role, object_code_role::in_use);
        continue;
      }
      ++object_codes_seen;
      const std::uint32_t value = to_underlying(fields[r]);
      SCOPED_TRACE(value);
      EXPECT_EQ(object_code_of(value), (object_code{kind, role}));
      const auto row = find_code(value);
      ASSERT_TRUE(row.has_value());
      const std::string name(row->name);
      EXPECT_TRUE(name.ends_with(role_suffix[r])) << name;
      EXPECT_NE(name.find(object_infix[static_cast<std::size_t>(kind)]), std::string::npos) << name;
    }
  }
  // 6 kinds x EXISTS, NOT_FOUND, PENDING_DELETION + IN_USE for 2 policies and auth methods.
  EXPECT_EQ(object_codes_seen, 21u);
  // And no other row claims an object.
  const auto rows_with_object =
      std::count_if(known_codes().begin(), known_codes().end(),
                    [](const code_info& row) { return object_code_of(row.value).has_value(); });
  EXPECT_EQ(rows_with_object, 21);
}

TEST(CodeMeaning, EveryPendingDeletionRowIsTransient) {
  std::size_t pending = 0;
  for (const code_info& row : known_codes()) {
    const bool named_pending = std::string_view(row.name).ends_with("_PENDING_DELETION");
    const auto code = object_code_of(row.value);
    EXPECT_EQ(named_pending, code && code->role == object_code_role::pending_deletion) << row.name;
    if (!named_pending) continue;
    ++pending;
    EXPECT_EQ(default_verdict(row.value), verdict::transient) << row.name;
  }
  EXPECT_EQ(pending, 6u);
}

// The lookups are usable at compile time, as the headers promise.
static_assert(default_verdict(13023) == verdict::transient);
static_assert(default_verdict(1726) == verdict::permanent);
static_assert(default_verdict(1726, idempotency::idempotent) == verdict::transient);
static_assert(default_verdict(13024) == verdict::success);
static_assert(default_verdict(424242) == verdict::permanent);
static_assert(is_transport_failure(1722) && !is_transport_failure(170));
static_assert(signals_overload(170) && !signals_overload(13023));
static_assert(codes_for(object_kind::qm_policy).pending_deletion == win32_error{13023});
static_assert(object_code_of(13012) ==
              object_code{object_kind::mm_auth_methods, object_code_role::in_use});
static_assert(!object_code_of(5).has_value());

}  // namespace
