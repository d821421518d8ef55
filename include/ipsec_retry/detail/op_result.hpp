// ipsec_retry internals: how retry() reads what an op returns (docs/policies.md, "What the op
// may return").
//
//   return type                  read as                                     value on success
//   DWORD / std::uint32_t /      a Win32 code; one holding an HRESULT        win32_error (the
//   unsigned int, win32_error    (0x8007xxxx, FWP_E_*) is normalized as one   code, warnings too)
//   long (LONG, LSTATUS, and     by value: negative = an HRESULT, zero or    the long itself
//   HRESULT on Windows)          positive = a Win32 code (0 = success)
//   ipsec_retry::hresult         an HRESULT: any success HRESULT (S_OK,      hresult
//                                S_FALSE) is success
//   std::error_code              falsy = success; win32_category (and on     the error_code
//                                Windows system_category) = a Windows code
//   ipsec_retry::result<T>       a value = success; an error as above,       T (nothing for void)
//                                except that an error the classifier calls
//                                success is refused (permanent_error, code
//                                kept): a warning cannot become a value, and
//                                only result<void> takes a site's success_on
// Every other type (int, BOOL, bool, pointers, floating point, 64-bit integers) is refused at
// compile time with a static_assert that says what to return. No type turns a failure into a
// success: a failure HRESULT never normalizes to ERROR_SUCCESS.
#pragma once

#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/retry_error.hpp>
#include <ipsec_retry/win32_error.hpp>

#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>

namespace ipsec_retry::detail {

template <class>
inline constexpr bool unsupported_op_result = false;

template <class R>
concept win32_dword = std::unsigned_integral<R> && sizeof(R) == 4 && !std::same_as<R, bool> &&
                      !std::same_as<R, char32_t> && !std::same_as<R, wchar_t>;

template <class R>
struct is_std_result : std::false_type {};
template <class T, class P>
struct is_std_result<outcome::basic_result<T, std::error_code, P>> : std::true_type {};

/// How retry() reads an op's return value: its verdict, its error_code, its normalized Windows
/// code (for guards) and its success value.
template <class R>
struct op_result {
  static_assert(!std::is_void_v<R>,
                "ipsec_retry::retry: the op returns nothing; return its Windows code (a DWORD, "
                "an HRESULT as ipsec_retry::hresult, a std::error_code or an "
                "ipsec_retry::result<T>)");
  static_assert(!std::is_same_v<R, bool>,
                "ipsec_retry::retry: the op returns bool, which carries no Windows code; for a "
                "BOOL API return `ok ? 0u : ::GetLastError()` (a DWORD)");
  static_assert(!std::is_same_v<R, int>,
                "ipsec_retry::retry: the op returns int (a BOOL, an errno or a count?), which is "
                "not read as a Windows code; return a DWORD (std::uint32_t) for a Win32 code, "
                "ipsec_retry::hresult{...} for an HRESULT, or `ok ? 0u : ::GetLastError()` for a "
                "BOOL API");
  static_assert(!std::is_pointer_v<R>,
                "ipsec_retry::retry: the op returns a pointer, which carries no Windows code; "
                "return `p ? 0u : ::GetLastError()` (a DWORD) and keep the pointer yourself");
  static_assert(!std::is_floating_point_v<R>,
                "ipsec_retry::retry: the op returns a floating-point value, which is no Windows "
                "code; return a DWORD, an ipsec_retry::hresult, a std::error_code or an "
                "ipsec_retry::result<T>");
  static_assert(std::is_void_v<R> || std::is_same_v<R, bool> || std::is_same_v<R, int> ||
                    std::is_pointer_v<R> || std::is_floating_point_v<R> || unsupported_op_result<R>,
                "ipsec_retry::retry: unsupported op return type; return a Win32 code (DWORD / "
                "std::uint32_t / win32_error), a long (LONG, LSTATUS, HRESULT on Windows: read by "
                "value), an ipsec_retry::hresult, a std::error_code or an ipsec_retry::result<T>");
};

template <class R>
requires win32_dword<R> || std::same_as<R, win32_error>
struct op_result<R> {
  using value_type = win32_error;
  // A DWORD may carry an HRESULT (0x8007xxxx, FWP_E_*): normalize it like one.
  static std::uint32_t normalized(R r) noexcept {
    return normalize(hresult{static_cast<std::uint32_t>(r)});
  }
  static verdict classify(const classifier& c, R r) noexcept { return c(normalized(r)); }
  static std::error_code error(R r) noexcept { return make_error_code(win32_error{normalized(r)}); }
  static std::optional<std::uint32_t> windows(R r) noexcept { return normalized(r); }
  static value_type value(R r) noexcept { return win32_error{static_cast<std::uint32_t>(r)}; }
};

// `long` is HRESULT, LSTATUS, LONG and the type of every winerror.h constant on Windows, so it
// is read by value: its 32 bits as a DWORD (negative values are failure HRESULTs, which the
// DWORD rule normalizes). On LP64 systems a long outside [INT32_MIN, UINT32_MAX] is no Windows
// code: permanent, reported as std::errc::value_too_large.
template <>
struct op_result<long> {
  using value_type = long;
  using dword = op_result<std::uint32_t>;
  static constexpr bool fits(long r) noexcept {
    if constexpr (sizeof(long) > 4) {
      return r >= std::numeric_limits<std::int32_t>::min() &&
             r <= static_cast<long>(std::numeric_limits<std::uint32_t>::max());
    } else {
      return true;
    }
  }
  static std::uint32_t bits(long r) noexcept { return static_cast<std::uint32_t>(r); }
  static verdict classify(const classifier& c, long r) noexcept {
    return fits(r) ? dword::classify(c, bits(r)) : verdict::permanent;
  }
  static std::error_code error(long r) noexcept {
    return fits(r) ? dword::error(bits(r)) : std::make_error_code(std::errc::value_too_large);
  }
  static std::optional<std::uint32_t> windows(long r) noexcept {
    return fits(r) ? dword::windows(bits(r)) : std::nullopt;
  }
  static value_type value(long r) noexcept { return r; }
};

template <>
struct op_result<hresult> {
  using value_type = hresult;
  static verdict classify(const classifier& c, hresult h) noexcept {
    // Any success HRESULT (S_OK, S_FALSE, ...) is a success: the lists hold Win32 codes and
    // failure HRESULTs (retry_policy refuses success codes), and S_FALSE is not Win32 code 1.
    return succeeded(h) ? verdict::success : c(normalize(h));
  }
  static std::error_code error(hresult h) noexcept { return make_error_code(h); }
  static std::optional<std::uint32_t> windows(hresult h) noexcept { return normalize(h); }
  static value_type value(hresult h) noexcept { return h; }
};

template <>
struct op_result<std::error_code> {
  using value_type = std::error_code;
  static verdict classify(const classifier& c, const std::error_code& r) noexcept { return c(r); }
  static std::error_code error(const std::error_code& r) noexcept { return r; }
  static std::optional<std::uint32_t> windows(const std::error_code& r) noexcept {
    return r ? windows_code(r) : std::optional<std::uint32_t>(0u);
  }
  static value_type value(std::error_code r) noexcept { return r; }
};

template <class R>
requires is_std_result<R>::value struct op_result<R> {
  using value_type = typename R::value_type;
  static verdict classify(const classifier& c, const R& r) noexcept {
    if (r.has_value()) return verdict::success;
    if (!r.error()) return verdict::permanent;  // an empty error is no result: see error()
    const verdict v = c(r.error());
    if (v != verdict::success) return v;
    // The error slot holds a code the classifier calls success. Only a site's own success_on
    // code may end a result<void> op: nothing is lost. A warning (WARNING_IPSEC_*_PRUNED) would
    // vanish in a result<void> and cannot become a value: refused, the code kept.
    if constexpr (std::is_void_v<value_type>) {
      const auto code = windows_code(r.error());
      if (code && c.success_codes().contains(*code)) return verdict::success;
    }
    return verdict::permanent;
  }
  static std::error_code error(const R& r) noexcept {
    if (r.has_value()) return {};
    // An op that fails with an empty error_code broke its contract; never report it as falsy.
    return r.error() ? r.error() : std::make_error_code(std::errc::invalid_argument);
  }
  static std::optional<std::uint32_t> windows(const R& r) noexcept {
    return r.has_value() ? std::optional<std::uint32_t>(0u) : windows_code(error(r));
  }
  static retry_result<value_type> value(R&& r) {
    if constexpr (std::is_void_v<value_type>) {
      return outcome::success();
    } else {
      return std::move(r).assume_value();
    }
  }
};

/// Calls the op, handing it the loop's stop token if it takes one.
template <class Op>
decltype(auto) invoke_op(Op& op, const std::stop_token& stop) {
  if constexpr (std::is_invocable_v<Op&, const std::stop_token&>) {
    return std::invoke(op, stop);
  } else {
    return std::invoke(op);
  }
}

template <class Op>
using op_return_t = std::remove_cvref_t<decltype(invoke_op(
    std::declval<Op&>(), std::declval<const std::stop_token&>()))>;

/// One call's result when an exception translator is installed: the op's own result, or the
/// code its exception was translated to. A translated code never becomes a value: one that
/// the site calls success is refused (permanent), as in a result<T>.
template <class R>
struct translated {
  std::optional<R> value;
  std::error_code thrown;
};

template <class R>
struct op_result<translated<R>> {
  using inner = op_result<R>;
  using value_type = typename inner::value_type;
  static verdict classify(const classifier& c, const translated<R>& t) noexcept {
    if (t.value) return inner::classify(c, *t.value);
    if (!t.thrown) return verdict::permanent;
    const verdict v = c(t.thrown);
    return v == verdict::success ? verdict::permanent : v;
  }
  static std::error_code error(const translated<R>& t) noexcept {
    if (t.value) return inner::error(*t.value);
    return t.thrown ? t.thrown : std::make_error_code(std::errc::invalid_argument);
  }
  static std::optional<std::uint32_t> windows(const translated<R>& t) noexcept {
    return t.value ? inner::windows(*t.value) : windows_code(error(t));
  }
  static auto value(translated<R>&& t) { return inner::value(std::move(*t.value)); }
};

template <class Op>
using retry_value_t = typename op_result<op_return_t<Op>>::value_type;

}  // namespace ipsec_retry::detail
