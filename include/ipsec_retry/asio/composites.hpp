// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::asio's composites: async_replace_policy and async_teardown, the blocking
// composites' steps (ipsec/composites.hpp) run one async operation at a time. Part of
// ipsec_retry::asio (<ipsec_retry/asio.hpp>).
#pragma once

#include <ipsec_retry/asio/retry.hpp>
#include <ipsec_retry/ipsec/composites.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace ipsec_retry::asio {

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

// A composite's steps (report.steps, each listed with ipsec::detail::skip_step, so `ran ==
// false` until it begins) and its operations in
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
  ipsec::detail::skip_step(report, filter_object, agent_operation::remove, filters.size());
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
  ipsec::detail::skip_step(report, policy_object, agent_operation::remove, 1);
  items.push_back(
      {1,
       {kind, agent_operation::remove, old_name},
       ipsec::detail::pick(policies.policy_delete, policy_object, agent_operation::remove),
       {.after_filters_removed = !filters.empty()}});
  ipsec::detail::skip_step(report, policy_object, agent_operation::add, 1);
  items.push_back({2,
                   {kind, agent_operation::add, new_name, body},
                   ipsec::detail::pick(policies.policy_add, policy_object, agent_operation::add),
                   {}});
  ipsec::detail::skip_step(report, filter_object, agent_operation::add, filters.size());
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
  ipsec::detail::skip_step(report, filter_object, agent_operation::remove, filters.size());
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
  ipsec::detail::skip_step(report, policy_object, agent_operation::remove, policies.size());
  for (const ipsec::teardown_policy_ref& p : policies) {
    items.push_back({1,
                     {p.kind, agent_operation::remove, p.name},
                     ipsec::detail::pick(step.policy_delete, ipsec::to_object_kind(p.kind),
                                         agent_operation::remove),
                     gone});
  }
  ipsec::detail::skip_step(report, object_kind::mm_auth_methods, agent_operation::remove,
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
