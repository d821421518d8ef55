// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::asio timers: real (steady_timers) and virtual (virtual_timers), the two kinds of
// wait an async operation can make. Part of ipsec_retry::asio (<ipsec_retry/asio.hpp>).
#pragma once

#include <ipsec_retry/clock.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/wait_traits.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
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

}  // namespace ipsec_retry::asio
