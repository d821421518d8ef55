// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::asio: the retry loop, the typed Policy Agent operations and the composites on a
// Boost.Asio event loop (CMake target ipsec_retry::asio; not in the umbrella header).
// docs/async.md.
//
//   boost::asio::io_context io;
//   auto op = [&](auto handler) { start_one_attempt(std::move(handler)); };  // handler(code)
//   ipsec_retry::asio::async_retry(io.get_executor(), policy, op,
//       [](ipsec_retry::retry_result<ipsec_retry::win32_error> r) { ... });
//   // or in a coroutine: auto r = co_await async_retry(ex, policy, op,
//   boost::asio::use_awaitable);
//
// The rules are retry()'s (docs/policies.md): the same step machine decides (retry.hpp's
// plain_machine, or a typed operation's operation_engine), only the waits are timers on the
// executor and the calls complete through handlers. Delays: call k+1 starts delay_k after call k
// completes; no wait runs past the deadline (start of call 1 + timeout).
//
// Intermediate steps and the completion run on the handler's associated executor (the
// executor given, unless the handler names another, e.g. a strand through bind_executor), and
// the operation's memory comes from the handler's associated allocator. The operation never
// completes inside async_retry: call 1 is posted. With a multi-threaded io_context, give a
// strand so that the steps of one operation never run concurrently (as for any Asio composed
// operation).
#pragma once

#include <ipsec_retry/clock.hpp>
#include <ipsec_retry/ipsec/composites.hpp>
#include <ipsec_retry/ipsec/engine.hpp>
#include <ipsec_retry/ipsec/operation_types.hpp>
#include <ipsec_retry/ipsec/policy_agent.hpp>
#include <ipsec_retry/retry.hpp>
#include <ipsec_retry/retry_error.hpp>
#include <ipsec_retry/retry_policy.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/wait_traits.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace ipsec_retry::asio {

/// Real time: waits are boost::asio steady timers on the operation's executor.
struct steady_timers {
  using time_domain = real_time_domain;
  template <class Executor>
  using timer_type = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
  time_point now() const noexcept { return std::chrono::steady_clock::now(); }
  template <class Executor>
  timer_type<Executor> make_timer(const Executor& ex) const {
    return timer_type<Executor>(ex);
  }
};

/// Virtual time for the async layer: timers whose clock is a virtual_time. Nothing waits for
/// real; run() runs an io_context and, whenever no handler is ready, moves the virtual_time to
/// the earliest pending timer's expiry and completes that timer (ties in the order the waits
/// began). Copies share one queue; the virtual_time must outlive them and their timers.
///
///   ipsec_retry::virtual_time vt;
///   ipsec_retry::asio::virtual_timers timers(vt);
///   async_retry(io.get_executor(), policy, op, handler, {.time = timers});
///   timers.run(io);   // vt.elapsed(): exactly the schedule's time
class virtual_timers {
  struct wait_base {
    virtual ~wait_base() = default;
    virtual void fire(const boost::system::error_code& ec) = 0;
  };
  // Pending waits by (expiry, when the wait began): the earliest first, ties in order.
  using wait_key = std::pair<time_point, std::uint64_t>;
  struct queue {
    virtual_time* time;
    std::mutex mutex;
    std::map<wait_key, std::unique_ptr<wait_base>> waits;
    std::uint64_t next_id = 1;

    std::unique_ptr<wait_base> take(const wait_key& key) {
      const std::lock_guard lock(mutex);
      const auto it = waits.find(key);
      if (it == waits.end()) return nullptr;
      std::unique_ptr<wait_base> w = std::move(it->second);
      waits.erase(it);
      return w;
    }
  };

 public:
  using time_domain = virtual_time_domain;

  explicit virtual_timers(virtual_time& time) : queue_(std::make_shared<queue>()) {
    queue_->time = &time;
  }

  time_point now() const noexcept { return queue_->time->now(); }

  /// A timer in this virtual time, with basic_waitable_timer's expires_after, async_wait (a
  /// handler taking boost::system::error_code, completed on its associated executor) and
  /// cancel (the wait completes with operation_aborted).
  template <class Executor>
  class timer {
   public:
    using executor_type = Executor;
    timer(std::shared_ptr<queue> q, const Executor& ex) : queue_(std::move(q)), ex_(ex) {}
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;
    ~timer() { cancel(); }

    executor_type get_executor() const noexcept { return ex_; }
    void expires_after(nanoseconds d) {
      cancel();
      expiry_ = queue_->time->now() + std::max(d, nanoseconds::zero());
    }
    time_point expiry() const noexcept { return expiry_; }
    template <class Handler>
    void async_wait(Handler&& handler) {
      struct wait final : wait_base {
        std::decay_t<Handler> handler;
        Executor ex;
        boost::asio::executor_work_guard<Executor> work;
        wait(Handler&& h, const Executor& e) : handler(std::forward<Handler>(h)), ex(e), work(e) {}
        void fire(const boost::system::error_code& ec) override {
          const auto to = boost::asio::get_associated_executor(handler, ex);
          boost::asio::post(to, [h = std::move(handler), ec]() mutable { h(ec); });
        }
      };
      auto w = std::make_unique<wait>(std::forward<Handler>(handler), ex_);
      const std::lock_guard lock(queue_->mutex);
      key_ = {expiry_, queue_->next_id++};
      queue_->waits.emplace(key_, std::move(w));
    }
    std::size_t cancel() {
      if (key_.second == 0) return 0;
      std::unique_ptr<wait_base> w = queue_->take(key_);
      key_ = {};
      if (!w) return 0;
      w->fire(boost::asio::error::operation_aborted);
      return 1;
    }

   private:
    std::shared_ptr<queue> queue_;
    Executor ex_;
    time_point expiry_{};
    wait_key key_{};  // the pending wait's; id 0 if none
  };
  template <class Executor>
  using timer_type = timer<Executor>;

  template <class Executor>
  timer<Executor> make_timer(const Executor& ex) const {
    return timer<Executor>(queue_, ex);
  }

  /// Timers waiting now.
  std::size_t pending() const {
    const std::lock_guard lock(queue_->mutex);
    return queue_->waits.size();
  }

  /// Runs `io` (as io.poll(), again and again) until no handler is ready and no timer of this
  /// virtual time is pending; whenever none is ready, the timers due first fire (virtual time
  /// moves to their expiry, never back; timers due at the same time fire in the order their
  /// waits began). Returns the handlers run. Work done on other
  /// threads is not waited for: in virtual time, make blocking calls on `io` itself.
  std::size_t run(boost::asio::io_context& io) {
    std::size_t ran = 0;
    for (;;) {
      io.restart();
      const std::size_t now_ran = io.poll();
      ran += now_ran;
      if (now_ran != 0) continue;
      // Every wait due at the earliest expiry fires together, in the order the waits began.
      std::vector<std::unique_ptr<wait_base>> due;
      {
        const std::lock_guard lock(queue_->mutex);
        if (queue_->waits.empty()) return ran;
        const time_point at = queue_->waits.begin()->first.first;
        if (at > queue_->time->now()) queue_->time->set(at);
        while (!queue_->waits.empty() && queue_->waits.begin()->first.first == at) {
          due.push_back(std::move(queue_->waits.begin()->second));
          queue_->waits.erase(queue_->waits.begin());
        }
      }
      for (auto& w : due) w->fire({});
    }
  }

 private:
  std::shared_ptr<queue> queue_;
};

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

namespace detail {

// One agent operation of a composite, and what its success changes in the caller's filters.
struct composite_item {
  enum class on_success : std::uint8_t { nothing, release_replaced, readd_replaced, release };
  std::size_t step;
  ipsec::operation_target target;
  retry_policy policy;
  ipsec::operation_options operation;
  on_success effect = on_success::nothing;
  ipsec::replaced_filter* replaced = nullptr;
  ipsec::filter_handle* handle = nullptr;
};

// A composite's steps (report.steps, each `ran == false` until it begins) and its operations in
// order, run one at a time with async_run_operation: the first that fails stops the composite,
// as the blocking composites do (composites.hpp). Frees itself before the completion.
template <class Executor, class BlockingExecutor, class Agent, class Time, class Handler>
class composite_runner {
 public:
  static void start(const Executor& ex, const BlockingExecutor& blocking, Agent& agent,
                    ipsec::composite_report report, std::vector<composite_item> items,
                    const async_options<Time>& options, Handler handler) {
    auto* self = new composite_runner(ex, blocking, agent, std::move(report), std::move(items),
                                      options, std::move(handler));
    self->start_ = options.time.now();
    boost::asio::post(ex, [self] { self->begin_step(0); });
  }

 private:
  composite_runner(const Executor& ex, const BlockingExecutor& blocking, Agent& agent,
                   ipsec::composite_report report, std::vector<composite_item> items,
                   const async_options<Time>& options, Handler handler)
      : ex_(ex),
        blocking_(blocking),
        agent_(&agent),
        report_(std::move(report)),
        items_(std::move(items)),
        options_(options),
        handler_(std::move(handler)),
        work_(boost::asio::get_associated_executor(handler_, ex)) {}

  // Step `k` begins (steps without operations succeed at once); then its first operation.
  void begin_step(std::size_t k) {
    if (k >= report_.step_count) {
      finish();
      return;
    }
    report_.steps[k].ran = true;
    step_ = k;
    if (next_ < items_.size() && items_[next_].step == k) {
      run_item();
    } else {
      begin_step(k + 1);
    }
  }

  void run_item() {
    const composite_item& item = items_[next_];
    async_run_operation(
        ex_, blocking_, *agent_, item.target, item.policy,
        [this](retry_result<ipsec::operation_result> r) { item_done(std::move(r)); }, options_,
        item.operation);
  }

  void item_done(retry_result<ipsec::operation_result> r) {
    composite_item& item = items_[next_];
    ipsec::step_report& step = report_.steps[item.step];
    if (!r) {
      step.calls += r.error().calls;
      step.stopped = r.error().reason;
      step.last_code = r.error().code;
      finish();
      return;
    }
    step.calls += r.value().calls;
    ++step.done;
    switch (item.effect) {
      case composite_item::on_success::release_replaced:
        (void)item.replaced->handle.release();  // consumed by the delete
        break;
      case composite_item::on_success::readd_replaced:
        item.replaced->handle =
            ipsec::filter_handle(*agent_, item.replaced->filter.kind, r.value().handle);
        break;
      case composite_item::on_success::release:
        (void)item.handle->release();
        break;
      case composite_item::on_success::nothing:
        break;
    }
    ++next_;
    if (next_ < items_.size() && items_[next_].step == step_) {
      run_item();
    } else {
      begin_step(step_ + 1);
    }
  }

  void finish() {
    ipsec::detail::finish(report_, start_, options_.time.now());
    auto work = std::move(work_);
    Handler handler = std::move(handler_);
    ipsec::composite_report report = report_;
    delete this;
    const auto to = work.get_executor();
    boost::asio::dispatch(to, [h = std::move(handler), report, w = std::move(work)]() mutable {
      std::move(h)(report);
    });
  }

  Executor ex_;
  BlockingExecutor blocking_;
  Agent* agent_;
  ipsec::composite_report report_;
  std::vector<composite_item> items_;
  async_options<Time> options_;
  Handler handler_;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler, Executor>> work_;
  time_point start_{};
  std::size_t step_ = 0;
  std::size_t next_ = 0;
};

// A step of `report`, not begun yet.
inline void plan_step(ipsec::composite_report& report, object_kind object,
                      ipsec::agent_operation op, std::size_t total) {
  ipsec::step_report& s = report.steps[report.step_count++];
  s.object = object;
  s.op = op;
  s.ran = false;
  s.total = static_cast<std::uint32_t>(total);
}

template <class Executor, class BlockingExecutor, class Agent, class CompletionToken, class Time>
auto async_composite(const Executor& ex, const BlockingExecutor& blocking, Agent& agent,
                     ipsec::composite_report report, std::vector<composite_item> items,
                     CompletionToken&& token, const async_options<Time>& options) {
  return boost::asio::async_initiate<CompletionToken, void(ipsec::composite_report)>(
      [&agent](auto handler, const Executor& e, const BlockingExecutor& b,
               ipsec::composite_report r, std::vector<composite_item> i, async_options<Time> o) {
        composite_runner<Executor, BlockingExecutor, Agent, Time, decltype(handler)>::start(
            e, b, agent, std::move(r), std::move(i), o, std::move(handler));
      },
      token, ex, blocking, std::move(report), std::move(items), options);
}

}  // namespace detail

/// replace_policy (composites.hpp) on the event loop: the same four steps, rules and report,
/// each agent call made on `blocking`, each wait a timer on `ex`; `options` (deadline,
/// cancellation, time) bound every step. `filters` and the names and body must outlive the
/// operation; on success each filter's handle holds the re-added filter's. Completes with
/// void(ipsec::composite_report).
template <class Executor, class BlockingExecutor, class Agent, class CompletionToken,
          class Time = steady_timers>
auto async_replace_policy(const Executor& ex, const BlockingExecutor& blocking, Agent& agent,
                          ipsec::policy_kind kind, std::wstring_view old_name,
                          std::wstring_view new_name, ipsec::native_policy body,
                          std::span<ipsec::replaced_filter> filters,
                          const ipsec::step_policies& policies, CompletionToken&& token,
                          const async_options<Time>& options = {}) {
  using ipsec::agent_operation;
  using item = detail::composite_item;
  const object_kind policy_object = ipsec::to_object_kind(kind);
  const object_kind filter_object =
      filters.empty() ? (kind == ipsec::policy_kind::quick_mode ? object_kind::transport_filter
                                                                : object_kind::mm_filter)
                      : ipsec::to_object_kind(filters.front().filter.kind);
  ipsec::composite_report report;
  std::vector<item> items;
  detail::plan_step(report, filter_object, agent_operation::remove, filters.size());
  for (ipsec::replaced_filter& f : filters) {
    ipsec::native_filter which;
    which.kind = f.filter.kind;
    items.push_back(
        {0,
         ipsec::operation_target::for_filter(agent_operation::remove, which, f.handle.get()),
         ipsec::detail::pick(policies.filter_delete, filter_object, agent_operation::remove),
         {},
         item::on_success::release_replaced,
         &f,
         nullptr});
  }
  detail::plan_step(report, policy_object, agent_operation::remove, 1);
  items.push_back(
      {1,
       {kind, agent_operation::remove, old_name},
       ipsec::detail::pick(policies.policy_delete, policy_object, agent_operation::remove),
       {.after_filters_removed = !filters.empty()}});
  detail::plan_step(report, policy_object, agent_operation::add, 1);
  items.push_back({2,
                   {kind, agent_operation::add, new_name, body},
                   ipsec::detail::pick(policies.policy_add, policy_object, agent_operation::add),
                   {}});
  detail::plan_step(report, filter_object, agent_operation::add, filters.size());
  for (ipsec::replaced_filter& f : filters) {
    items.push_back({3,
                     ipsec::operation_target::for_filter(agent_operation::add, f.filter),
                     ipsec::detail::pick(policies.filter_add, filter_object, agent_operation::add),
                     {.readd_after_delete = true},
                     item::on_success::readd_replaced,
                     &f,
                     nullptr});
  }
  return detail::async_composite(ex, blocking, agent, std::move(report), std::move(items),
                                 std::forward<CompletionToken>(token), options);
}

/// teardown (composites.hpp) on the event loop: filters through their handles, then the
/// policies, then the MM auth methods, as async_replace_policy runs its steps. The spans must
/// outlive the operation. Completes with void(ipsec::composite_report).
template <class Executor, class BlockingExecutor, class Agent, class CompletionToken,
          class Time = steady_timers>
auto async_teardown(const Executor& ex, const BlockingExecutor& blocking, Agent& agent,
                    std::span<ipsec::filter_handle> filters,
                    std::span<const ipsec::teardown_policy_ref> policies,
                    std::span<const ipsec::guid> auth_methods, const ipsec::step_policies& step,
                    CompletionToken&& token, const async_options<Time>& options = {}) {
  using ipsec::agent_operation;
  using item = detail::composite_item;
  const object_kind filter_object = filters.empty() ? object_kind::transport_filter
                                                    : ipsec::to_object_kind(filters.front().kind());
  const object_kind policy_object =
      policies.empty() ? object_kind::qm_policy : ipsec::to_object_kind(policies.front().kind);
  const ipsec::operation_options gone{.absent_is_done = true, .after_filters_removed = true};
  ipsec::composite_report report;
  std::vector<item> items;
  detail::plan_step(report, filter_object, agent_operation::remove, filters.size());
  for (ipsec::filter_handle& h : filters) {
    ipsec::native_filter which;
    which.kind = h.kind();
    items.push_back({0,
                     ipsec::operation_target::for_filter(agent_operation::remove, which, h.get()),
                     ipsec::detail::pick(step.filter_delete, ipsec::to_object_kind(h.kind()),
                                         agent_operation::remove),
                     {},
                     item::on_success::release,
                     nullptr,
                     &h});
  }
  detail::plan_step(report, policy_object, agent_operation::remove, policies.size());
  for (const ipsec::teardown_policy_ref& p : policies) {
    items.push_back({1,
                     {p.kind, agent_operation::remove, p.name},
                     ipsec::detail::pick(step.policy_delete, ipsec::to_object_kind(p.kind),
                                         agent_operation::remove),
                     gone});
  }
  detail::plan_step(report, object_kind::mm_auth_methods, agent_operation::remove,
                    auth_methods.size());
  for (const ipsec::guid& id : auth_methods) {
    items.push_back({2, ipsec::operation_target::for_auth_methods(agent_operation::remove, id),
                     ipsec::detail::pick(step.auth_delete, object_kind::mm_auth_methods,
                                         agent_operation::remove),
                     gone});
  }
  return detail::async_composite(ex, blocking, agent, std::move(report), std::move(items),
                                 std::forward<CompletionToken>(token), options);
}

}  // namespace ipsec_retry::asio
