// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::asio's retry loop: async_retry, async_run_operation (a typed operation on the loop),
// per-operation cancellation, the options, and the one async driver they share. Part of
// ipsec_retry::asio (<ipsec_retry/asio.hpp>, which says how it runs).
#pragma once

#include <ipsec_retry/asio/timers.hpp>
#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/ipsec/engine.hpp>
#include <ipsec_retry/ipsec/operation_types.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry.hpp>
#include <ipsec_retry/retry_error.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

namespace ipsec_retry::asio {

namespace detail {

// What a cancellation reaches: the operation it is attached to.
struct cancellable {
  virtual void cancel_requested() = 0;

 protected:
  ~cancellable() = default;
};
struct cancellation_access;

}  // namespace detail

/// Per-operation cancellation (Boost 1.74, Debian 12's, has no cancellation slots): attach one
/// to an operation through async_options::cancel; emit() stops it with `cancelled`. A wait ends
/// at once; an attempt in flight is not interrupted (the op owns it), and when it completes the
/// loop stops unless that attempt succeeded. Like Asio's cancellation_signal, emit() is not
/// thread-safe: call it on the operation's executor (post it there from another thread). One
/// operation at a time; it must outlive the operation.
class cancellation {
 public:
  cancellation() = default;
  cancellation(const cancellation&) = delete;
  cancellation& operator=(const cancellation&) = delete;

  void emit() {
    emitted_ = true;
    if (target_ != nullptr) target_->cancel_requested();
  }
  /// Whether emit() was called (an operation attached afterwards stops before its first call).
  bool emitted() const noexcept { return emitted_; }
  /// Makes it usable for another operation.
  void reset() noexcept { emitted_ = false; }

 private:
  friend struct detail::cancellation_access;
  detail::cancellable* target_ = nullptr;
  bool emitted_ = false;
};

namespace detail {
struct cancellation_access {
  static void attach(cancellation* c, cancellable* target) noexcept {
    if (c != nullptr) c->target_ = target;
  }
  static void detach(cancellation* c, cancellable* target) noexcept {
    if (c != nullptr && c->target_ == target) c->target_ = nullptr;
  }
};
}  // namespace detail

/// What async_retry and the async typed operations take besides the policy. `Time`:
/// steady_timers (real time) or virtual_timers.
template <class Time = steady_timers>
struct async_options {
  Time time{};
  cancellation* cancel = nullptr;        ///< emit() stops the operation with `cancelled`
  std::optional<time_point> deadline{};  ///< an absolute deadline, besides the policy's timeout
  std::string_view site{};               ///< named in retry_error::site
  /// Before each wait, as retry()'s on_retry: (calls made, the last code, the delay); the time
  /// it takes counts against the deadline. Empty: none.
  std::function<void(std::uint32_t, const std::error_code&, nanoseconds)> on_retry{};
};

namespace detail {

// plain_machine (retry.hpp) driven from call 1: the sync fast path's first-call logic, then the
// same machine.
template <class R>
class plain_async_machine {
  using machine = ipsec_retry::detail::plain_machine<R, no_guard>;
  using traits = ipsec_retry::detail::op_result<R>;

 public:
  using result_type = typename machine::result_type;
  static constexpr bool can_follow = false;

  plain_async_machine(retry_policy policy, std::optional<time_point> deadline)
      : policy_(std::move(policy)), deadline_(deadline) {}
  plain_async_machine(const plain_async_machine&) = delete;
  plain_async_machine& operator=(const plain_async_machine&) = delete;

  retry_step start(time_point now) noexcept {
    start_ = now;
    return {retry_step::action::call, {}, {}};
  }
  retry_step call_ended(R r, time_point end) {
    if (m_) return m_->call_ended(std::move(r), end);
    const verdict v =
        traits::plain_success(r) ? verdict::success : traits::classify(policy_.classify(), r);
    m_.emplace(policy_, guard_, start_, deadline_, std::move(r));
    if (v == verdict::success) return {retry_step::action::done, {}, {}};
    return m_->first_ended(v, end);
  }
  retry_step slept(time_point now) noexcept { return m_->slept(now); }
  retry_step resume(time_point now) noexcept { return m_->resume(now); }
  retry_step waited(time_point now) noexcept { return m_->cancel(now); }  // never asked
  retry_step cancel(time_point) noexcept {
    return {retry_step::action::stop, {}, stop_reason::cancelled};
  }
  std::uint32_t calls() const noexcept { return m_ ? m_->calls() : 0; }
  std::error_code error() const {
    return m_ ? m_->error() : make_error_code(win32_error::cancelled);
  }
  result_type take_value() { return m_->take_value(); }

 private:
  retry_policy policy_;
  std::optional<time_point> deadline_;
  no_guard guard_{};
  time_point start_{};
  std::optional<machine> m_;
};

// The one async driver: runs a step machine (plain_async_machine or an operation_engine) on
// timers. `Attempt`: start_attempt(machine, handler) begins one call and completes `handler`
// with the call's result. Allocated with the handler's allocator; frees itself before the
// completion handler runs.
template <class Machine, class Executor, class Attempt, class Time, class Handler>
class async_driver final : public cancellable {
  using result_type = typename Machine::result_type;
  using handler_executor = boost::asio::associated_executor_t<Handler, Executor>;
  using allocator = boost::asio::associated_allocator_t<Handler>;
  using own_allocator =
      typename std::allocator_traits<allocator>::template rebind_alloc<async_driver>;
  using timer_type = typename Time::template timer_type<Executor>;

 public:
  template <class... MachineArgs>
  static void start(const Executor& ex, Attempt attempt, const async_options<Time>& options,
                    Handler handler, MachineArgs&&... machine_args) {
    own_allocator alloc(boost::asio::get_associated_allocator(handler));
    async_driver* self = std::allocator_traits<own_allocator>::allocate(alloc, 1);
    try {
      std::allocator_traits<own_allocator>::construct(alloc, self, ex, std::move(attempt), options,
                                                      std::move(handler),
                                                      std::forward<MachineArgs>(machine_args)...);
    } catch (...) {
      std::allocator_traits<own_allocator>::deallocate(alloc, self, 1);
      throw;
    }
    cancellation_access::attach(options.cancel, self);
    boost::asio::post(self->step_executor_, step_handler{{self}});
  }

  async_driver(const Executor& ex, Attempt attempt, const async_options<Time>& options,
               Handler handler, auto&&... machine_args)
      : handler_(std::move(handler)),
        step_executor_(ex),
        io_work_(ex),
        handler_work_(boost::asio::get_associated_executor(handler_, ex)),
        attempt_(std::move(attempt)),
        time_(options.time),
        timer_(time_.make_timer(ex)),
        cancel_(options.cancel),
        site_(options.site),
        on_retry_(options.on_retry),
        machine_(std::forward<decltype(machine_args)>(machine_args)...) {}

  void cancel_requested() override {
    cancelled_ = true;
    if (waiting_) timer_.cancel();
  }

  // The driver's own handlers: they run on its executor and allocate from the handler's
  // allocator.
  struct bound_handler {
    async_driver* self;
    using executor_type = Executor;
    using allocator_type = allocator;
    executor_type get_executor() const noexcept { return self->step_executor_; }
    allocator_type get_allocator() const noexcept {
      return boost::asio::get_associated_allocator(self->handler_);
    }
  };

  // Completes one attempt: hands the result to the driver on its executor.
  struct attempt_handler : bound_handler {
    template <class R>
    void operator()(R&& r) const {
      async_driver* d = this->self;
      boost::asio::dispatch(d->step_executor_,
                            [d, r = std::forward<R>(r)]() mutable { d->ended(std::move(r)); });
    }
  };

 private:
  struct step_handler : bound_handler {  // call 1, posted by start()
    void operator()() const { this->self->begin(); }
  };
  struct timer_handler : bound_handler {
    void operator()(const boost::system::error_code&) const { this->self->woke(); }
  };

  void begin() {
    start_ = time_.now();
    if (cancelled_ || (cancel_ != nullptr && cancel_->emitted())) {
      finish(retry_error{make_error_code(win32_error::cancelled), stop_reason::cancelled, 0,
                         nanoseconds::zero(), site_});
      return;
    }
    run(machine_.start(start_));
  }

  template <class R>
  void ended(R&& r) {
    run(machine_.call_ended(std::forward<R>(r), time_.now()));
  }

  void woke() {
    waiting_ = false;
    const time_point now = time_.now();
    if (cancelled_) {
      run(machine_.cancel(now));
    } else if (following_) {
      run(machine_.waited(now));
    } else {
      run(machine_.slept(now));
    }
  }

  void run(retry_step s) {
    switch (s.what) {
      case retry_step::action::call:
        hooked_ = false;
        attempt_(machine_, attempt_handler{{this}});
        return;
      case retry_step::action::sleep:
      case retry_step::action::wait_for_leader:
        if (cancelled_) {
          run(machine_.cancel(time_.now()));
          return;
        }
        if (on_retry_ && s.what == retry_step::action::sleep && !hooked_) {
          on_retry_(machine_.calls(), machine_.error(), s.delay);
          hooked_ = true;  // once per wait: resume() may answer sleep again
          run(machine_.resume(time_.now()));
          return;
        }
        hooked_ = false;
        following_ = s.what == retry_step::action::wait_for_leader;
        waiting_ = true;
        timer_.expires_after(s.delay);
        timer_.async_wait(timer_handler{{this}});
        return;
      case retry_step::action::done:
        finish(machine_.take_value());
        return;
      case retry_step::action::stop:
        finish(
            retry_error{machine_.error(), s.reason, machine_.calls(), time_.now() - start_, site_});
        return;
    }
  }

  // Frees the operation, then completes the handler through its associated executor (at once
  // when that is the one running, as for a handler without one).
  void finish(result_type r) {
    cancellation_access::detach(cancel_, this);
    Handler handler = std::move(handler_);
    auto work = std::move(handler_work_);
    own_allocator alloc(boost::asio::get_associated_allocator(handler));
    std::allocator_traits<own_allocator>::destroy(alloc, this);
    std::allocator_traits<own_allocator>::deallocate(alloc, this, 1);
    const handler_executor to = work.get_executor();
    boost::asio::dispatch(to, [h = std::move(handler), r = std::move(r),
                               w = std::move(work)]() mutable { std::move(h)(std::move(r)); });
  }

  Handler handler_;
  Executor step_executor_;
  boost::asio::executor_work_guard<Executor> io_work_;
  boost::asio::executor_work_guard<handler_executor> handler_work_;
  Attempt attempt_;
  Time time_;
  timer_type timer_;
  cancellation* cancel_;
  std::string_view site_;
  std::function<void(std::uint32_t, const std::error_code&, nanoseconds)> on_retry_;
  Machine machine_;
  time_point start_{};
  bool waiting_ = false;
  bool following_ = false;
  bool cancelled_ = false;
  bool hooked_ = false;  // on_retry ran for the wait being set up
};

// async_retry's attempt: the user's op, given the driver's handler.
template <class Op>
struct user_attempt {
  Op op;
  template <class Machine, class H>
  void operator()(Machine&, H&& h) {
    op(std::forward<H>(h));
  }
};

}  // namespace detail

/// Retries the asynchronous operation `op` under `policy` on `ex`: `op(handler)` starts one
/// attempt and calls `handler(R)` with its result, R being any op result type of retry()
/// (docs/policies.md, "What the op may return"): std::uint32_t (a Win32 code, the default),
/// long or hresult, std::error_code, outcome's result<T>. Completes with
/// void(retry_result<T>), T being what retry() returns for R (win32_error for a code). The
/// handler may be called from any thread; the next step runs on the operation's executor.
/// `policy` is copied. Any completion token: a callback, use_future, use_awaitable, ...
/// `op` must not throw: an exception would leave the executor's run() (as from any Asio
/// handler) and abandon the operation without completing it; catch it in `op` and hand the
/// handler a code instead.
template <class R = std::uint32_t, class Executor, class Op, class CompletionToken,
          class Time = steady_timers>
auto async_retry(const Executor& ex, const retry_policy& policy, Op op, CompletionToken&& token,
                 const async_options<Time>& options = {}) {
  using value_type = typename ipsec_retry::detail::op_result<R>::value_type;
  using signature = void(retry_result<value_type>);
  return boost::asio::async_initiate<CompletionToken, signature>(
      [](auto handler, const Executor& e, retry_policy p, Op o, async_options<Time> opts) {
        using driver = detail::async_driver<detail::plain_async_machine<R>, Executor,
                                            detail::user_attempt<Op>, Time, decltype(handler)>;
        const std::optional<time_point> deadline = opts.deadline;
        driver::start(e, detail::user_attempt<Op>{std::move(o)}, opts, std::move(handler),
                      std::move(p), deadline);
      },
      token, ex, policy, std::move(op), options);
}

namespace detail {

// A typed operation's attempt: the blocking agent call, made on `blocking` (off the event
// loop), its code handed back to the driver.
template <class Agent, class BlockingExecutor>
struct agent_attempt {
  Agent* agent;
  BlockingExecutor blocking;
  template <class Guard, class H>
  void operator()(ipsec::operation_engine<Guard>& engine, H h) {
    boost::asio::post(blocking, [agent = agent, &engine, h]() mutable {
      const win32_error code = ipsec::call_agent(*agent, engine.target(), engine.received());
      h(code);
    });
  }
};

}  // namespace detail

/// A typed Policy Agent operation (operation_types.hpp: `target` names the object and the
/// operation; its views must outlive the operation) on the event loop: the engine decides as
/// for run_operation (idempotency, gone_after_pending, coalesced waits through
/// operation_options::waits), the blocking agent call runs on `blocking` (a thread_pool's
/// executor: the Policy Agent's calls are blocking RPC), the waits are timers on `ex`. A
/// coalesced follower waits in slices on its own backoff (it is not woken early by the leader).
/// Completes with void(retry_result<ipsec::operation_result>). In virtual time, pass `ex` as
/// `blocking` too (the simulated agent does not block).
template <class Executor, class BlockingExecutor, class Agent, class CompletionToken,
          class Time = steady_timers>
auto async_run_operation(const Executor& ex, const BlockingExecutor& blocking, Agent& agent,
                         const ipsec::operation_target& target, const retry_policy& policy,
                         CompletionToken&& token, const async_options<Time>& options = {},
                         const ipsec::operation_options& operation = {}) {
  using signature = void(retry_result<ipsec::operation_result>);
  return boost::asio::async_initiate<CompletionToken, signature>(
      [&agent](auto handler, const Executor& e, const BlockingExecutor& b,
               ipsec::operation_target t, retry_policy p, async_options<Time> opts,
               ipsec::operation_options op_options) {
        static const no_guard guard{};
        using attempt = detail::agent_attempt<Agent, BlockingExecutor>;
        using driver = detail::async_driver<ipsec::operation_engine<no_guard>, Executor, attempt,
                                            Time, decltype(handler)>;
        driver::start(e, attempt{&agent, b}, opts, std::move(handler), t, p, guard, opts.time.now(),
                      opts.deadline, op_options);
      },
      token, ex, blocking, target, policy, options, operation);
}

}  // namespace ipsec_retry::asio
