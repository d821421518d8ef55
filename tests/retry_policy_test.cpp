// SPDX-License-Identifier: BSL-1.0
#include <ipsec_retry/retry_policy.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>

namespace ir = ipsec_retry;
using namespace std::chrono_literals;

TEST(PolicyParse, EmptyGivesTheDefaults) {
  for (const char* text : {"", "   ", "\t"}) {
    const auto p = ir::retry_policy::parse(text);
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(p.value(), ir::retry_policy{});
  }
  const ir::retry_policy defaults;
  const ir::retry_settings& d = defaults.settings();
  EXPECT_FALSE(d.attempts);
  EXPECT_EQ(d.timeout, 30s);
  EXPECT_EQ(d.delays.strategy, ir::backoff_strategy::exponential);
  EXPECT_EQ(d.delays.initial, 20ms);
  EXPECT_EQ(d.delays.multiplier, 2.0);
  EXPECT_FALSE(d.delays.step);
  EXPECT_EQ(d.delays.max_delay, 2s);
  EXPECT_EQ(d.delays.jitter, ir::jitter_mode::proportional);
  EXPECT_EQ(d.delays.jitter_percent, 20.0);
  EXPECT_EQ(d.on_deadline, ir::at_deadline::final_call);
  EXPECT_FALSE(d.seed);
}

TEST(PolicyParse, EveryKey) {
  const auto p = ir::retry_policy::parse(
      " attempts = 7 ; timeout=1.5s, backoff=linear, initial=10ms, multiplier=1.5, step=250us, "
      "max_delay=1min, jitter=12.5%, retry_on=5|0x800706BE, never_retry=ERROR_BUSY, "
      "success_on=ERROR_IPSEC_QM_POLICY_NOT_FOUND, idempotent=yes, at_deadline=give_up, "
      "seed=18446744073709551615 ");
  ASSERT_TRUE(p) << p.error().message();
  const auto& s = p.value().settings();
  EXPECT_EQ(s.attempts, 7u);
  EXPECT_EQ(s.timeout, 1500ms);
  EXPECT_EQ(s.delays.strategy, ir::backoff_strategy::linear);
  EXPECT_EQ(s.delays.initial, 10ms);
  EXPECT_EQ(s.delays.multiplier, 2.0) << "linear ignores multiplier: make() resets it";
  EXPECT_EQ(s.delays.step, 250us);
  EXPECT_EQ(s.delays.max_delay, 60s);
  EXPECT_EQ(s.delays.jitter, ir::jitter_mode::proportional);
  EXPECT_EQ(s.delays.jitter_percent, 12.5);
  EXPECT_TRUE(s.classify.retry_on_codes().contains(5));
  EXPECT_TRUE(s.classify.retry_on_codes().contains(1726));  // HRESULT normalized
  EXPECT_TRUE(s.classify.never_retry_codes().contains(170));
  EXPECT_TRUE(s.classify.success_codes().contains(13001));
  EXPECT_EQ(s.classify.site(), ir::idempotency::idempotent);
  EXPECT_EQ(s.on_deadline, ir::at_deadline::give_up);
  EXPECT_EQ(s.seed, 18446744073709551615ull);
  // The classification tweaks take effect.
  EXPECT_EQ(p.value().classify()(5u), ir::verdict::transient);
  EXPECT_EQ(p.value().classify()(170u), ir::verdict::permanent);
  EXPECT_EQ(p.value().classify()(13001u), ir::verdict::success);
  EXPECT_EQ(p.value().classify()(1726u), ir::verdict::transient) << "idempotent=yes";
}

TEST(PolicyParse, UnboundedTimeoutNeedsAttempts) {
  EXPECT_TRUE(ir::retry_policy::parse("timeout=none, attempts=3"));
  EXPECT_TRUE(ir::retry_policy::parse("timeout=0s"));
  EXPECT_EQ(ir::retry_policy::parse("timeout=0s").value().settings().timeout, 0ns);
}

TEST(PolicyParse, Durations) {
  const std::pair<const char*, std::chrono::nanoseconds> cases[] = {
      {"100ns", 100ns},
      {"10us", 10us},
      {"250ms", 250ms},
      {"1.5s", 1500ms},
      {"2min", 120s},
      {"1h", 3600s},
      {"0.25ms", 250us},
      {".5s", 500ms},
      {"0ms", 0ns},
      {"1.000000001s", 1000000001ns},
      {"9223372036854775807ns", std::chrono::nanoseconds::max()}};
  for (const auto& [text, expected] : cases) {
    const auto d = ir::parse_duration(text);
    ASSERT_TRUE(d) << text;
    EXPECT_EQ(d.value(), expected) << text;
  }
}

TEST(PolicyFormat, DurationsUseTheLargestExactUnit) {
  EXPECT_EQ(ir::format_duration(1500ms), "1500ms");
  EXPECT_EQ(ir::format_duration(2s), "2s");
  EXPECT_EQ(ir::format_duration(60s), "1min");
  EXPECT_EQ(ir::format_duration(7200s), "2h");
  EXPECT_EQ(ir::format_duration(250us), "250us");
  EXPECT_EQ(ir::format_duration(1ns), "1ns");
  EXPECT_EQ(ir::format_duration(0ns), "0ms");
}

TEST(PolicyFormat, NormalizedString) {
  EXPECT_EQ(ir::retry_policy{}.format(),
            "attempts=unlimited, timeout=30s, backoff=exponential, initial=20ms, multiplier=2, "
            "max_delay=2s, jitter=20%, at_deadline=final_call");
  const auto p = ir::retry_policy::parse(
      "seed=1;jitter=none;retry_on=5|0x80320012;timeout=5000ms;initial=10ms;max_delay=60s");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p.value().format(),
            "attempts=unlimited, timeout=5s, backoff=exponential, initial=10ms, multiplier=2, "
            "max_delay=1min, jitter=none, retry_on=ERROR_ACCESS_DENIED|FWP_E_TIMEOUT, "
            "at_deadline=final_call, seed=1");
}

TEST(PolicyFormat, RoundTripsToTheSamePolicy) {
  for (const char* text :
       {"", "attempts=1", "timeout=none, attempts=unlimited, attempts=3", "backoff=decorrelated",
        "backoff=linear, step=7ms, initial=1ns", "multiplier=1.0000001", "jitter=full",
        "jitter=equal", "jitter=100%", "jitter=0.001%", "retry_on=99999|0x8BADF00D",
        "never_retry=1722|1723", "at_deadline=give_up", "seed=0", "timeout=1.000000001s",
        "max_delay=9223372036854775807ns, initial=1h", "initial=1ns"}) {
    const auto first = ir::retry_policy::parse(text);
    if (!first) continue;  // the duplicate-key case: covered by the error tests
    const std::string formatted = first.value().format();
    const auto second = ir::retry_policy::parse(formatted);
    ASSERT_TRUE(second) << text << " -> " << formatted << ": " << second.error().message();
    EXPECT_EQ(second.value(), first.value()) << text << " -> " << formatted;
    EXPECT_EQ(second.value().format(), formatted) << "format is a fixed point";
  }
}

TEST(PolicyMake, DesignatedInitializers) {
  const auto p = ir::retry_policy::make({.attempts = 5,
                                         .timeout = 2s,
                                         .delays = {.strategy = ir::backoff_strategy::constant,
                                                    .initial = 50ms,
                                                    .jitter = ir::jitter_mode::none}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p.value().format(),
            "attempts=5, timeout=2s, backoff=constant, initial=50ms, max_delay=2s, jitter=none, "
            "at_deadline=final_call");
}

TEST(PolicyMake, RejectsWhatParseRejects) {
  ir::retry_settings s;
  s.attempts = 0;
  EXPECT_EQ(ir::retry_policy::make(s).error().code, ir::policy_errc::out_of_range);
  s = {};
  s.timeout.reset();
  EXPECT_EQ(ir::retry_policy::make(s).error().code, ir::policy_errc::unbounded);
  s = {};
  s.delays.initial = 3s;
  EXPECT_EQ(ir::retry_policy::make(s).error().code, ir::policy_errc::inconsistent);
  s = {};
  s.delays.multiplier = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(ir::retry_policy::make(s).error().code, ir::policy_errc::out_of_range);
  s = {};
  s.delays.multiplier = 0.5;
  EXPECT_EQ(ir::retry_policy::make(s).error().code, ir::policy_errc::out_of_range);
  s = {};
  s.timeout = -1s;
  EXPECT_EQ(ir::retry_policy::make(s).error().code, ir::policy_errc::out_of_range);
  s = {};
  s.delays.jitter_percent = 0;
  EXPECT_EQ(ir::retry_policy::make(s).error().code, ir::policy_errc::out_of_range);
  s = {};
  s.classify.retry_on(5);
  s.classify.never_retry(5);
  const auto both = ir::retry_policy::make(s);
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code, ir::policy_errc::inconsistent);
  EXPECT_NE(both.error().message().find("ERROR_ACCESS_DENIED"), std::string::npos);
  EXPECT_EQ(both.error().column, 0u);
}

TEST(PolicyParse, ValueThrowsASystemErrorWithTheMessage) {
  const auto p = ir::retry_policy::parse("atempts=3");
  try {
    (void)p.value();
    FAIL() << "value() of an error must throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), ir::policy_errc::unknown_key);
    EXPECT_NE(std::string(e.what()).find("did you mean 'attempts'"), std::string::npos) << e.what();
  }
}

struct bad_policy {
  const char* text;
  ir::policy_errc code;
  std::size_t column;
  const char* token;
  const char* says;  // a fragment the message must contain
  friend std::ostream& operator<<(std::ostream& os, const bad_policy& b) {
    return os << '"' << b.text << '"';
  }
};

class PolicyParseRejects : public testing::TestWithParam<bad_policy> {};

TEST_P(PolicyParseRejects, NamingTheTokenAndItsColumn) {
  const bad_policy& b = GetParam();
  const auto p = ir::retry_policy::parse(b.text);
  ASSERT_FALSE(p) << b.text;
  const ir::policy_error& e = p.error();
  EXPECT_EQ(e.code, b.code) << e.message();
  EXPECT_EQ(e.column, b.column) << e.message();
  EXPECT_EQ(e.token, b.token) << e.message();
  EXPECT_NE(e.message().find(b.says), std::string::npos) << e.message();
  EXPECT_EQ(e.message().rfind("column " + std::to_string(b.column) + ": ", 0), 0u) << e.message();
}

INSTANTIATE_TEST_SUITE_P(
    BadStrings, PolicyParseRejects,
    testing::Values(
        bad_policy{"atempts=3", ir::policy_errc::unknown_key, 1, "atempts",
                   "did you mean 'attempts'?"},
        bad_policy{"timeout=5s, max-delay=1s", ir::policy_errc::unknown_key, 13, "max-delay",
                   "did you mean 'max_delay'?"},
        bad_policy{"timeout=5s, timeout=6s", ir::policy_errc::duplicate_key, 13, "timeout",
                   "first at column 1"},
        bad_policy{"timeout=5", ir::policy_errc::bad_value, 9, "5", "a number and a unit"},
        bad_policy{"timeout=-5s", ir::policy_errc::bad_value, 9, "-5s", "duration"},
        bad_policy{"timeout=5 s", ir::policy_errc::bad_value, 9, "5 s", "duration"},
        bad_policy{"timeout=1.s", ir::policy_errc::bad_value, 9, "1.s", "duration"},
        bad_policy{"timeout=0.5ns", ir::policy_errc::bad_value, 9, "0.5ns", "duration"},
        bad_policy{"timeout=99999999999h", ir::policy_errc::out_of_range, 9, "99999999999h",
                   "292 years"},
        bad_policy{"attempts=0", ir::policy_errc::out_of_range, 10, "0", ">= 1"},
        bad_policy{"attempts=-1", ir::policy_errc::bad_value, 10, "-1", "'unlimited'"},
        bad_policy{"attempts=4294967296", ir::policy_errc::out_of_range, 10, "4294967296",
                   "4294967295"},
        bad_policy{"attempts=3x", ir::policy_errc::bad_value, 10, "3x", "integer"},
        bad_policy{"backoff=fibonacci", ir::policy_errc::bad_value, 9, "fibonacci",
                   "constant, linear, exponential or decorrelated"},
        bad_policy{"multiplier=0.5", ir::policy_errc::out_of_range, 12, "0.5", ">= 1"},
        bad_policy{"multiplier=nan", ir::policy_errc::bad_value, 12, "nan", "finite"},
        bad_policy{"multiplier=inf", ir::policy_errc::bad_value, 12, "inf", "finite"},
        bad_policy{"multiplier=1e999", ir::policy_errc::bad_value, 12, "1e999", "finite"},
        bad_policy{"jitter=0%", ir::policy_errc::out_of_range, 8, "0%", "0 < N <= 100"},
        bad_policy{"jitter=101%", ir::policy_errc::out_of_range, 8, "101%", "0 < N <= 100"},
        bad_policy{"jitter=lots", ir::policy_errc::bad_value, 8, "lots", "none, full, equal"},
        bad_policy{"jitter=x%", ir::policy_errc::bad_value, 8, "x%", "N%"},
        bad_policy{"retry_on=5|NOPE", ir::policy_errc::bad_value, 12, "NOPE", "unknown code name"},
        bad_policy{"retry_on=5||6", ir::policy_errc::bad_value, 12, "5||6", "empty code"},
        bad_policy{"at_deadline=later", ir::policy_errc::bad_value, 13, "later",
                   "final_call or give_up"},
        bad_policy{"seed=-1", ir::policy_errc::bad_value, 6, "-1", "unsigned integer"},
        bad_policy{"seed=18446744073709551616", ir::policy_errc::out_of_range, 6,
                   "18446744073709551616", "at most"},
        bad_policy{"timeout", ir::policy_errc::syntax, 1, "timeout", "expected key=value"},
        bad_policy{"=5s", ir::policy_errc::syntax, 1, "=5s", "missing key"},
        bad_policy{"timeout=", ir::policy_errc::bad_value, 9, "timeout=", "missing value"},
        bad_policy{"timeout=5s,", ir::policy_errc::syntax, 11, ",", "after the last separator"},
        bad_policy{"timeout=5s,,attempts=2", ir::policy_errc::syntax, 12, ",", "empty item"},
        bad_policy{",timeout=5s", ir::policy_errc::syntax, 1, ",", "empty item"},
        bad_policy{"timeout=none, attempts=unlimited", ir::policy_errc::unbounded, 15, "attempts",
                   "retry forever"},
        bad_policy{"timeout=none", ir::policy_errc::unbounded, 1, "timeout", "retry forever"},
        bad_policy{"timeout=1s, initial=0ms", ir::policy_errc::out_of_range, 13, "initial",
                   "initial must be > 0"},
        bad_policy{"initial=3s, max_delay=1s", ir::policy_errc::inconsistent, 13, "max_delay",
                   "exceeds max_delay"},
        bad_policy{"retry_on=5, never_retry=ERROR_ACCESS_DENIED", ir::policy_errc::inconsistent, 13,
                   "never_retry", "both retry_on and never_retry"},
        // The later key of a contradiction is named, whichever check found it.
        bad_policy{"max_delay=1s, initial=3s, retry_on=5", ir::policy_errc::inconsistent, 15,
                   "initial", "exceeds max_delay"},
        bad_policy{"timeout=1.0001ns", ir::policy_errc::bad_value, 9, "1.0001ns", "duration"},
        bad_policy{"timeout=1.00000000001s", ir::policy_errc::bad_value, 9, "1.00000000001s",
                   "duration"},
        bad_policy{"retry_on=0", ir::policy_errc::out_of_range, 10, "0",
                   "retry_on cannot list ERROR_SUCCESS (0): a success code cannot be retried"},
        bad_policy{"never_retry=ERROR_SUCCESS", ir::policy_errc::out_of_range, 13, "ERROR_SUCCESS",
                   "never_retry cannot list ERROR_SUCCESS (0)"},
        bad_policy{"success_on=13001| 0", ir::policy_errc::out_of_range, 19, "0",
                   "success_on cannot list ERROR_SUCCESS (0)"},
        bad_policy{"retry_on=5|0x00070005", ir::policy_errc::out_of_range, 12, "0x00070005",
                   "retry_on cannot list the success HRESULT 0x00070005"},
        bad_policy{"retry_on=5, success_on=ERROR_ACCESS_DENIED", ir::policy_errc::inconsistent, 13,
                   "success_on", "code ERROR_ACCESS_DENIED is in both retry_on and success_on"},
        bad_policy{"success_on=1722, timeout=1s, never_retry=1722", ir::policy_errc::inconsistent,
                   30, "never_retry", "is in both never_retry and success_on"},
        bad_policy{"idempotent=maybe", ir::policy_errc::bad_value, 12, "maybe", "yes or no"},
        bad_policy{"idempotent=", ir::policy_errc::bad_value, 12, "idempotent=", "missing value"},
        bad_policy{"retry_on=1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16|17",
                   ir::policy_errc::out_of_range, 49, "17", "at most 16"}));

// ---- success codes in the lists, success_on, idempotent (issue 11 item 6, issue 12 item 2) ----

TEST(Parse, RetryOnRefusesErrorSuccess) {
  const auto p = ir::retry_policy::parse("timeout=1s, retry_on=0");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message(),
            "column 22: retry_on cannot list ERROR_SUCCESS (0): a success code cannot be retried");
  // Whatever the spelling of success.
  for (const char* text :
       {"retry_on=ERROR_SUCCESS", "retry_on=0x0", "never_retry=0", "never_retry=ERROR_SUCCESS",
        "success_on=0", "retry_on=0x00070005", "never_retry=0X40000000", "success_on=0x00320012"}) {
    const auto q = ir::retry_policy::parse(text);
    ASSERT_FALSE(q) << text;
    EXPECT_EQ(q.error().code, ir::policy_errc::out_of_range) << text;
    EXPECT_NE(q.error().message().find(" cannot list "), std::string::npos) << q.error().message();
  }
  // Failures stay listable: 0x80070000 is a failure (not ERROR_SUCCESS); a positive number not
  // written as an HRESULT is a Win32 code, and a warning is a Win32 code like any other.
  for (const char* text :
       {"retry_on=0x80070000", "never_retry=99999", "retry_on=0x1869F", "never_retry=0x000032DF",
        "never_retry=WARNING_IPSEC_QM_POLICY_PRUNED", "success_on=65535"}) {
    const auto q = ir::retry_policy::parse(text);
    EXPECT_TRUE(q) << text << ": " << q.error().message();
  }
  EXPECT_EQ(ir::retry_policy::parse("retry_on=0x80070000").value().format(),
            "attempts=unlimited, timeout=30s, backoff=exponential, initial=20ms, multiplier=2, "
            "max_delay=2s, jitter=20%, retry_on=0x80070000, at_deadline=final_call");
}

TEST(Make, RefusesSuccessCodesSetInCode) {
  const auto refused = [](auto set_code, const char* key) {
    ir::retry_settings s;
    set_code(s.classify);
    const auto p = ir::retry_policy::make(s);
    ASSERT_FALSE(p) << key;
    EXPECT_EQ(p.error().code, ir::policy_errc::out_of_range) << key;
    EXPECT_EQ(p.error().token, key);
    EXPECT_EQ(p.error().column, 0u);
    EXPECT_EQ(p.error().message().rfind(std::string(key) + " cannot list ", 0), 0u)
        << p.error().message();
  };
  refused([](ir::classifier& c) { c.retry_on(0); }, "retry_on");
  refused([](ir::classifier& c) { c.never_retry(0); }, "never_retry");
  refused([](ir::classifier& c) { c.map_to_success(0); }, "success_on");
}

TEST(Make, NormalizesCodesSetInCode) {
  ir::retry_settings s;
  s.classify.retry_on(0x80070005);  // E_ACCESSDENIED: ERROR_ACCESS_DENIED as an HRESULT
  s.classify.retry_on(5);
  s.classify.map_to_success(0x800732C9);  // HRESULT of ERROR_IPSEC_QM_POLICY_NOT_FOUND (13001)
  const auto p = ir::retry_policy::make(s);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p.value().classify().retry_on_codes().size(), 1u);
  EXPECT_TRUE(p.value().classify().retry_on_codes().contains(5));
  EXPECT_TRUE(p.value().classify().success_codes().contains(13001));
  EXPECT_EQ(p.value().classify()(5u), ir::verdict::transient);
  // The same code as an HRESULT in two lists is a conflict once normalized.
  ir::retry_settings both;
  both.classify.retry_on(0x80070005);
  both.classify.map_to_success(5);
  const auto conflict = ir::retry_policy::make(both);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().message(),
            "code ERROR_ACCESS_DENIED is in both retry_on and success_on");
  EXPECT_EQ(conflict.error().token, "success_on");
}

TEST(Parse, SuccessOnAndIdempotent) {
  const auto p = ir::retry_policy::parse(
      "success_on=ERROR_IPSEC_QM_POLICY_NOT_FOUND|0x800732CC, idempotent=yes");
  ASSERT_TRUE(p) << p.error().message();
  const ir::classifier& c = p.value().classify();
  EXPECT_EQ(c(13001u), ir::verdict::success);
  EXPECT_EQ(c(13004u), ir::verdict::success);  // 0x800732CC = ERROR_IPSEC_MM_POLICY_NOT_FOUND
  EXPECT_EQ(c(1726u), ir::verdict::transient);
  EXPECT_EQ(p.value().format(),
            "attempts=unlimited, timeout=30s, backoff=exponential, initial=20ms, multiplier=2, "
            "max_delay=2s, jitter=20%, "
            "success_on=ERROR_IPSEC_QM_POLICY_NOT_FOUND|ERROR_IPSEC_MM_POLICY_NOT_FOUND, "
            "idempotent=yes, at_deadline=final_call");
  EXPECT_EQ(ir::retry_policy::parse("idempotent=no").value(), ir::retry_policy{});
}

TEST(Parse, SuccessOnAndIdempotentOverABase) {
  ir::retry_settings s;
  s.classify.map_to_success(13001);
  s.classify.set_idempotency(ir::idempotency::idempotent);
  const auto base = ir::retry_policy::make(s).value();
  // Not given: the base's codes and idempotency stay.
  const auto kept = ir::retry_policy::parse("timeout=5s", base).value();
  EXPECT_EQ(kept.classify().success_codes(), base.classify().success_codes());
  EXPECT_EQ(kept.classify().site(), ir::idempotency::idempotent);
  // Given: they replace the base's.
  const auto replaced = ir::retry_policy::parse("success_on=13004, idempotent=no", base).value();
  EXPECT_FALSE(replaced.classify().success_codes().contains(13001));
  EXPECT_TRUE(replaced.classify().success_codes().contains(13004));
  EXPECT_EQ(replaced.classify().site(), ir::idempotency::non_idempotent);
  // A text key conflicting with a base key points at the text's.
  const auto conflict = ir::retry_policy::parse("timeout=5s, retry_on=13001", base);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().column, 13u);
  EXPECT_EQ(conflict.error().token, "retry_on");
  EXPECT_EQ(conflict.error().message(),
            "column 13: code ERROR_IPSEC_QM_POLICY_NOT_FOUND is in both retry_on and success_on");
}

// ---- format() round-trips everything a policy value holds -----------------------------------

TEST(Format, RoundTripsJitterNoneWithPercent50) {
  ir::retry_settings s;
  s.delays.jitter = ir::jitter_mode::none;
  s.delays.jitter_percent = 50;
  const auto p = ir::retry_policy::make(s);
  ASSERT_TRUE(p) << p.error().message();
  const auto again = ir::retry_policy::parse(p.value().format());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again.value(), p.value()) << p.value().format();
  // The ignored percentage is reset, so the two ways of saying "no jitter" are one value.
  EXPECT_EQ(p.value(), ir::retry_policy::parse("jitter=none").value());
}

TEST(Format, IgnoredStrategyFieldsAreResetAndLeftOut) {
  ir::retry_settings s;
  s.delays.strategy = ir::backoff_strategy::constant;
  s.delays.multiplier = 3;
  s.delays.step = 7ms;
  const auto p = ir::retry_policy::make(s).value();
  EXPECT_EQ(p.delays().multiplier, 2.0);
  EXPECT_FALSE(p.delays().step);
  EXPECT_EQ(p.format(),
            "attempts=unlimited, timeout=30s, backoff=constant, initial=20ms, max_delay=2s, "
            "jitter=20%, at_deadline=final_call");
  EXPECT_EQ(ir::retry_policy::parse("backoff=linear, multiplier=3, step=7ms").value().format(),
            "attempts=unlimited, timeout=30s, backoff=linear, initial=20ms, step=7ms, "
            "max_delay=2s, jitter=20%, at_deadline=final_call");
}

// Property: every policy built in code, over combinations of every field, satisfies
// parse(format(p)) == p, and format() is a fixed point.
TEST(Format, RoundTripsEveryPolicyBuiltInCode) {
  using ns = std::chrono::nanoseconds;
  const std::optional<std::uint32_t> attempts[] = {std::nullopt, 1u, 7u, 4294967295u};
  const std::optional<ns> timeouts[] = {std::nullopt, 0ns, 1ns, 1500ms, ns::max()};
  const ir::backoff_strategy strategies[] = {
      ir::backoff_strategy::constant, ir::backoff_strategy::linear,
      ir::backoff_strategy::exponential, ir::backoff_strategy::decorrelated};
  const ns initials[] = {1ns, 20ms, 1000000001ns};
  const double multipliers[] = {1.0, 1.0000001, 3.25, 1e30};
  const std::optional<ns> steps[] = {std::nullopt, 0ns, 7ms, 1h};
  const ns max_delays[] = {2s, 1h, ns::max()};
  const ir::jitter_mode jitters[] = {ir::jitter_mode::none, ir::jitter_mode::full,
                                     ir::jitter_mode::equal, ir::jitter_mode::proportional};
  const double percents[] = {0.001, 12.5, 50, 100};
  const std::uint32_t codes[] = {5,     13001,      13023,      1722,       99999,
                                 65535, 0x20000001, 0x80320012, 0x8BADF00D, 0x80070000};
  const ir::at_deadline deadlines[] = {ir::at_deadline::final_call, ir::at_deadline::give_up};
  const std::optional<std::uint64_t> seeds[] = {std::nullopt, 0u, 18446744073709551615u};

  ir::splitmix64 pick(20240611);
  const auto any = [&](const auto& values) -> const auto& {
    return values[pick() % std::size(values)];
  };
  int made = 0;
  for (int i = 0; i < 4000; ++i) {
    ir::retry_settings s;
    s.attempts = any(attempts);
    s.timeout = any(timeouts);
    s.delays = {.strategy = any(strategies),
                .initial = any(initials),
                .multiplier = any(multipliers),
                .step = any(steps),
                .max_delay = any(max_delays),
                .jitter = any(jitters),
                .jitter_percent = any(percents)};
    // Each code goes to at most one list (or none), so the lists never conflict.
    for (std::uint32_t code : codes) {
      switch (pick() % 5) {
        case 0:
          s.classify.retry_on(code);
          break;
        case 1:
          s.classify.never_retry(code);
          break;
        case 2:
          s.classify.map_to_success(code);
          break;
        default:
          break;
      }
    }
    s.classify.set_idempotency(pick() % 2 ? ir::idempotency::idempotent
                                          : ir::idempotency::non_idempotent);
    s.on_deadline = any(deadlines);
    s.seed = any(seeds);

    const auto p = ir::retry_policy::make(s);
    if (!p) continue;  // unbounded: covered by the error tests
    ++made;
    const std::string text = p.value().format();
    const auto again = ir::retry_policy::parse(text);
    ASSERT_TRUE(again) << text << ": " << again.error().message();
    ASSERT_EQ(again.value(), p.value()) << text;
    ASSERT_EQ(again.value().format(), text);
  }
  EXPECT_GT(made, 3000);
}

TEST(RetryPolicy, WithIdempotencyEqualsMakeWithThatOneFieldChanged) {
  const auto base = ir::retry_policy::parse("timeout=5s, retry_on=5, jitter=none").value();
  for (const auto site : {ir::idempotency::idempotent, ir::idempotency::non_idempotent}) {
    ir::retry_settings s = base.settings();
    s.classify.set_idempotency(site);
    const ir::retry_policy made = ir::retry_policy::make(s).value();
    EXPECT_EQ(base.with_idempotency(site), made);
    EXPECT_EQ(base.with_idempotency(site).classify().site(), site);
  }
  EXPECT_EQ(base.with_idempotency(ir::idempotency::idempotent).format(),
            "attempts=unlimited, timeout=5s, backoff=exponential, initial=20ms, multiplier=2, "
            "max_delay=2s, jitter=none, retry_on=ERROR_ACCESS_DENIED, idempotent=yes, "
            "at_deadline=final_call");
}
