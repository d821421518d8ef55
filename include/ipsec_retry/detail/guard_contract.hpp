// SPDX-License-Identifier: BSL-1.0
// ipsec_retry: the types of the guard contract (guards.hpp, at the top, says what a guard
// promises and how to write one). They live here, below both layers, because the retry loop
// (retry.hpp, retry_options.hpp) needs them and must not include guards.hpp, which depends on
// it. Public names in namespace ipsec_retry; include guards.hpp or retry.hpp, not this.
#pragma once

#include <ipsec_retry/classify.hpp>
#include <ipsec_retry/retry_error.hpp>

#include <cstdint>
#include <optional>
#include <system_error>
#include <utility>

namespace ipsec_retry {

/// A refused call: why, and (for circuit_open) the code the guard remembers.
struct refusal {
  stop_reason reason;
  std::error_code code;  ///< empty: report the last call's code
};

/// The ticket of a guard that keeps nothing per call.
struct no_ticket {};

/// A guard's answer to admit(): refused (and why), or admitted with the ticket that the one
/// record() or release() of this call hands back.
template <class Ticket>
struct admission {
  std::optional<refusal> refused;
  [[no_unique_address]] Ticket ticket{};
};

/// The guard that never refuses and learns nothing: the default, free.
struct no_guard {
  static constexpr bool active = false;
  using ticket = no_ticket;
  admission<ticket> admit(std::uint32_t) const noexcept { return {}; }
  constexpr void record(const ticket&, verdict, std::optional<std::uint32_t>) const noexcept {}
  constexpr void release(const ticket&) const noexcept {}
};

/// One admission of `Guard`, held by a loop: admit() asks the guard, record() reports the
/// verdict, and whatever is still held when it is released or destroyed goes back to the guard
/// through release(). Reusable (admit again after a record or release); movable, not copyable.
/// No allocation; for an inactive guard (no_guard) every member is an empty inline no-op.
///   held_admission<G> pass(guard);
///   if (auto refused = pass.admit(n)) return stop(*refused);
///   const auto code = call();            // throws: ~held_admission releases
///   pass.record(verdict_of(code), code);
template <class Guard>
class held_admission {
 public:
  using ticket = typename Guard::ticket;
  explicit held_admission(const Guard& guard) noexcept : guard_(&guard) {}
  held_admission(held_admission&& other) noexcept
      : guard_(other.guard_), ticket_(other.ticket_), held_(std::exchange(other.held_, false)) {}
  held_admission& operator=(held_admission&&) = delete;
  ~held_admission() { release(); }

  /// Releases what is held, then asks the guard; the refusal, or nullopt when admitted.
  std::optional<refusal> admit(std::uint32_t call) {
    release();
    admission<ticket> a = guard_->admit(call);
    if (a.refused) return a.refused;
    ticket_ = a.ticket;
    held_ = true;
    return std::nullopt;
  }
  bool held() const noexcept { return held_; }
  /// The held call's verdict (only after an admit that was not refused).
  void record(verdict v, std::optional<std::uint32_t> code) noexcept {
    held_ = false;
    guard_->record(ticket_, v, code);
  }
  /// No verdict will come for the held call (nothing happens when none is held).
  void release() noexcept {
    if (std::exchange(held_, false)) guard_->release(ticket_);
  }
  /// Stops holding and hands the ticket to the caller, who now owes its record or release.
  ticket take() noexcept {
    held_ = false;
    return ticket_;
  }

 private:
  const Guard* guard_;
  [[no_unique_address]] ticket ticket_{};
  bool held_ = false;
};

template <class Guard>
requires(!Guard::active) class held_admission<Guard> {
 public:
  using ticket = typename Guard::ticket;
  explicit held_admission(const Guard&) noexcept {}
  std::optional<refusal> admit(std::uint32_t) noexcept { return std::nullopt; }
  bool held() const noexcept { return false; }
  void record(verdict, std::optional<std::uint32_t>) noexcept {}
  void release() noexcept {}
  ticket take() noexcept { return {}; }
};

}  // namespace ipsec_retry
