// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: which Windows results are worth another call.
//
// verdict(code) is success, transient (call again after a backoff) or permanent (stop now).
// Default rules, on normalized codes (see win32_error.hpp), from the `retry` column of the one
// code table, detail/code_table.inc:
//   success    0; WARNING_IPSEC_MM_POLICY_PRUNED 13024, WARNING_IPSEC_QM_POLICY_PRUNED 13025
//              (the loop returns the warning code as its value, so the caller still sees it)
//   transient  the six *_PENDING_DELETION codes 13018..13023; RPC failures where the call
//              provably did not run: RPC_S_SERVER_UNAVAILABLE 1722, RPC_S_SERVER_TOO_BUSY 1723,
//              RPC_S_CALL_FAILED_DNE 1727, EPT_S_NOT_REGISTERED 1753; ERROR_BUSY 170,
//              ERROR_RETRY 1237; FWP_E_TIMEOUT 0x80320012
//   transient, only when the call site is idempotent: failures whose outcome is unknown (the
//              call may have run): RPC_S_CALL_FAILED 1726, RPC_S_COMM_FAILURE 1820,
//              RPC_S_CALL_CANCELLED 1818, ERROR_TIMEOUT 1460
//   permanent  everything else, including every code the library does not know.
// A call site adjusts these with a `classifier`: extra transient codes, codes never retried,
// codes mapped to success. Lookups are constant-time: a switch plus at most
// 3 x classifier::max_codes comparisons; no allocation, no lock.
#pragma once

#include <ipsec_retry/detail/code_meaning.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

namespace ipsec_retry {

/// What to do about a call's result.
enum class verdict : std::uint8_t {
  success,    ///< done; the value (or warning code) goes to the caller
  transient,  ///< the condition may clear: call again after a backoff delay
  permanent,  ///< calling again cannot help: stop and report the code
};

/// "success", "transient" or "permanent".
constexpr std::string_view to_string(verdict v) noexcept {
  switch (v) {
    case verdict::success:
      return "success";
    case verdict::transient:
      return "transient";
    case verdict::permanent:
      return "permanent";
  }
  return "permanent";
}

/// Whether a call site may safely repeat a call whose outcome is unknown (it may have run).
enum class idempotency : std::uint8_t { non_idempotent, idempotent };

/// Whether a (normalized) failure leaves the call's outcome unknown: it may have run on the
/// server. RPC_S_CALL_FAILED 1726, RPC_S_COMM_FAILURE 1820, RPC_S_CALL_CANCELLED 1818 and
/// ERROR_TIMEOUT 1460: the rows `if_idempotent` of detail/code_table.inc. Transient only at an
/// idempotent site (default_verdict).
constexpr bool is_ambiguous_failure(std::uint32_t normalized) noexcept {
  return detail::code_column::retry_of(normalized) == detail::code_column::retry::if_idempotent;
}
constexpr bool is_ambiguous_failure(win32_error code) noexcept {
  return is_ambiguous_failure(to_underlying(code));
}

/// The library's default verdict for a normalized code (see the table at the top): the `retry`
/// column of detail/code_table.inc; a code that is not a row is permanent.
constexpr verdict default_verdict(std::uint32_t normalized,
                                  idempotency site = idempotency::non_idempotent) noexcept {
  using detail::code_column::retry;
  const retry column = detail::code_column::retry_of(normalized);
  if (column == retry::if_idempotent) [[unlikely]] {
    return site == idempotency::idempotent ? verdict::transient : verdict::permanent;
  }
  return static_cast<verdict>(column);  // success, transient, permanent: the same values
}
static_assert(static_cast<verdict>(detail::code_column::retry::success) == verdict::success &&
              static_cast<verdict>(detail::code_column::retry::transient) == verdict::transient &&
              static_cast<verdict>(detail::code_column::retry::permanent) == verdict::permanent);

/// A fixed-capacity set of normalized codes (no heap). Insertion past capacity fails.
class code_set {
 public:
  static constexpr std::size_t capacity = 16;

  constexpr code_set() noexcept = default;
  /// Adds a code; false when the set is full (the code is then not added). Duplicates are kept
  /// once.
  constexpr bool insert(std::uint32_t code) noexcept {
    if (contains(code)) return true;
    if (size_ == capacity) return false;
    codes_[size_++] = code;
    return true;
  }
  constexpr bool contains(std::uint32_t code) const noexcept {
    for (std::size_t i = 0; i < size_; ++i) {
      if (codes_[i] == code) return true;
    }
    return false;
  }
  constexpr bool erase(std::uint32_t code) noexcept {
    for (std::size_t i = 0; i < size_; ++i) {
      if (codes_[i] == code) {
        codes_[i] = codes_[--size_];
        return true;
      }
    }
    return false;
  }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr std::span<const std::uint32_t> codes() const noexcept { return {codes_.data(), size_}; }
  friend constexpr bool operator==(const code_set& a, const code_set& b) noexcept {
    if (a.size_ != b.size_) return false;
    for (std::uint32_t c : a.codes()) {
      if (!b.contains(c)) return false;
    }
    return true;
  }

 private:
  std::array<std::uint32_t, capacity> codes_{};
  std::size_t size_ = 0;
};

/// One call site's classification: the defaults plus its own adjustments. A plain value.
/// Precedence: map_to_success, then never_retry, then retry_on, then default_verdict.
///
///   ipsec_retry::classifier c;
///   c.set_idempotency(idempotency::idempotent);   // 1726 etc. become transient
///   c.retry_on(5);                                 // ERROR_ACCESS_DENIED: retry here
///   c.never_retry(1722);                           // give up at once when the server is down
class classifier {
 public:
  constexpr classifier() noexcept = default;
  constexpr explicit classifier(idempotency site) noexcept : site_(site) {}

  /// Treat `code` (normalized) as transient at this site. False when the set is full.
  constexpr bool retry_on(std::uint32_t code) noexcept { return note(retry_on_.insert(code)); }
  /// Treat `code` as permanent at this site, even if it is transient by default.
  constexpr bool never_retry(std::uint32_t code) noexcept {
    return note(never_retry_.insert(code));
  }
  /// Treat `code` as success at this site (e.g. NOT_FOUND for a delete).
  constexpr bool map_to_success(std::uint32_t code) noexcept { return note(success_.insert(code)); }
  constexpr void set_idempotency(idempotency site) noexcept { site_ = site; }
  /// Forget this site's extra transient codes.
  constexpr void clear_retry_on() noexcept {
    retry_on_ = {};
    note(true);
  }
  /// Forget this site's never-retried codes.
  constexpr void clear_never_retry() noexcept {
    never_retry_ = {};
    note(true);
  }
  /// Forget this site's codes mapped to success.
  constexpr void clear_success() noexcept {
    success_ = {};
    note(true);
  }

  constexpr idempotency site() const noexcept { return site_; }
  constexpr const code_set& retry_on_codes() const noexcept { return retry_on_; }
  constexpr const code_set& never_retry_codes() const noexcept { return never_retry_; }
  constexpr const code_set& success_codes() const noexcept { return success_; }

  /// The verdict for a normalized code.
  constexpr verdict operator()(std::uint32_t normalized) const noexcept {
    if (adjusted_) [[unlikely]] {
      return adjusted(normalized);
    }
    return default_verdict(normalized, site_);
  }
  constexpr verdict operator()(win32_error code) const noexcept { return (*this)(normalize(code)); }
  constexpr verdict operator()(hresult code) const noexcept { return (*this)(normalize(code)); }
  /// An error_code: falsy is success; a Windows code (see windows_code()) is classified as
  /// above; a code of any other category is permanent.
  verdict operator()(const std::error_code& code) const noexcept {
    if (!code) return verdict::success;
    const auto value = windows_code(code);
    return value ? (*this)(*value) : verdict::permanent;
  }

  friend constexpr bool operator==(const classifier&, const classifier&) noexcept = default;

 private:
  constexpr bool note(bool inserted) noexcept {
    adjusted_ = !retry_on_.empty() || !never_retry_.empty() || !success_.empty();
    return inserted;
  }
  constexpr verdict adjusted(std::uint32_t normalized) const noexcept {
    if (success_.contains(normalized)) return verdict::success;
    if (never_retry_.contains(normalized)) return verdict::permanent;
    if (retry_on_.contains(normalized)) return verdict::transient;
    return default_verdict(normalized, site_);
  }

  code_set retry_on_;
  code_set never_retry_;
  code_set success_;
  idempotency site_ = idempotency::non_idempotent;
  // Cached "any set non-empty", so an unadjusted classifier costs one branch.
  bool adjusted_ = false;
};

}  // namespace ipsec_retry
