// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::asio (asio.hpp): async_retry and the async typed operations follow retry()'s
// rules exactly (the same timelines in virtual time), with callbacks, use_future and
// coroutines; cancellation ends a long wait at once, in virtual and in real time; the
// handler's allocator and executor are used; many concurrent operations on strands over a
// two-thread io_context (run under TSan in CI); 10,000 on one thread all complete.
#include <ipsec_retry/asio.hpp>
#include <ipsec_retry/ipsec/coalesce.hpp>
#include <ipsec_retry/ipsec/operations.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>
#include <ipsec_retry/retry.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include "counting_allocator.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
namespace ira = ipsec_retry::asio;
namespace net = boost::asio;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace {

constexpr std::uint32_t pending_deletion = 13023;
constexpr std::uint32_t access_denied = 5;

ir::retry_policy parse(const char* text) {
  return ir::retry_policy::parse(text).value();
}

// An op answering from a script of codes (the last one repeats), recording when each call
// started in virtual time.
struct scripted_op {
  std::vector<std::uint32_t> codes;
  const ir::virtual_time* vt;
  std::vector<nanoseconds>* starts;
  template <class Handler>
  void operator()(Handler h) const {
    const std::size_t k = starts->size();
    starts->push_back(vt->elapsed());
    h(codes[std::min(k, codes.size() - 1)]);
  }
};

// The blocking loop's timeline for the same op and policy, in virtual time.
std::vector<nanoseconds> sync_timeline(const ir::retry_policy& policy,
                                       std::vector<std::uint32_t> codes,
                                       std::optional<ir::retry_error>* error = nullptr) {
  ir::virtual_time vt;
  std::vector<nanoseconds> starts;
  const auto r = ir::retry(
      policy,
      [&]() -> std::uint32_t {
        const std::size_t k = starts.size();
        starts.push_back(vt.elapsed());
        return codes[std::min(k, codes.size() - 1)];
      },
      ir::options().with_time(vt));
  if (error != nullptr && !r) *error = r.error();
  return starts;
}

struct async_run {
  std::vector<nanoseconds> starts;
  std::optional<ir::retry_result<ir::win32_error>> result;
  nanoseconds elapsed{};
};

async_run run_async(const ir::retry_policy& policy, std::vector<std::uint32_t> codes,
                    ira::cancellation* cancel = nullptr) {
  net::io_context io;
  ir::virtual_time vt;
  ira::virtual_timers timers(vt);
  async_run out;
  ira::async_retry(
      io.get_executor(), policy, scripted_op{std::move(codes), &vt, &out.starts},
      [&](ir::retry_result<ir::win32_error> r) { out.result = std::move(r); },
      ira::async_options<ira::virtual_timers>{timers, cancel});
  timers.run(io);
  out.elapsed = vt.elapsed();
  return out;
}

TEST(AsyncRetry, TransientTwiceThenSuccessWithACallback) {
  const auto run =
      run_async(parse("initial=10ms, jitter=none"), {pending_deletion, pending_deletion, 0});
  ASSERT_TRUE(run.result.has_value());
  ASSERT_TRUE(run.result->has_value()) << run.result->error().message();
  EXPECT_EQ(run.result->value(), ir::win32_error::success);
  EXPECT_EQ(run.starts, (std::vector<nanoseconds>{0ms, 10ms, 30ms}));
  EXPECT_EQ(run.elapsed, 30ms);
}

TEST(AsyncRetry, PermanentErrorStopsAfterOneCall) {
  const auto run = run_async(parse("initial=10ms"), {access_denied});
  ASSERT_TRUE(run.result && !run.result->has_value());
  EXPECT_EQ(run.result->error().reason, ir::stop_reason::permanent_error);
  EXPECT_EQ(run.result->error().calls, 1u);
  EXPECT_EQ(run.result->error().code, ir::win32_error{access_denied});
  EXPECT_EQ(run.elapsed, 0ms);
}

TEST(AsyncRetry, TimelinesAreTheBlockingLoopsForEveryRule) {
  // Deadline clip with a final call, give_up, attempts, jitter with a seed, decorrelated.
  for (const char* text :
       {"timeout=25ms, initial=10ms, jitter=none",
        "timeout=25ms, initial=10ms, jitter=none, "
        "at_deadline=give_up",
        "attempts=4, initial=5ms, max_delay=8ms, jitter=none", "timeout=1s, initial=20ms, seed=7",
        "timeout=2s, backoff=decorrelated, initial=10ms, seed=3",
        "attempts=6, backoff=linear, initial=1ms, step=3ms, jitter=full, seed=11", "timeout=0s"}) {
    SCOPED_TRACE(text);
    const auto policy = parse(text);
    std::optional<ir::retry_error> sync_error;
    const auto expected = sync_timeline(policy, {pending_deletion}, &sync_error);
    const auto run = run_async(policy, {pending_deletion});
    EXPECT_EQ(run.starts, expected);
    ASSERT_TRUE(sync_error && run.result && !run.result->has_value());
    EXPECT_EQ(run.result->error().reason, sync_error->reason);
    EXPECT_EQ(run.result->error().calls, sync_error->calls);
    EXPECT_EQ(run.result->error().elapsed, sync_error->elapsed);
    EXPECT_EQ(run.result->error().code, sync_error->code);
  }
}

TEST(AsyncRetry, OnRetryIsCalledBeforeEachWaitAsTheBlockingLoopCallsIt) {
  const auto policy = parse("timeout=100ms, initial=10ms, jitter=none");
  using call = std::pair<std::uint32_t, nanoseconds>;
  std::vector<call> sync_calls;
  ir::virtual_time sync_vt;
  (void)ir::retry(
      policy, [] { return pending_deletion; },
      ir::options().with_time(sync_vt).with_on_retry(
          [&](std::uint32_t n, const std::error_code& code, nanoseconds next) {
            EXPECT_EQ(code, ir::win32_error{pending_deletion});
            sync_calls.emplace_back(n, next);
          }));
  net::io_context io;
  ir::virtual_time vt;
  ira::virtual_timers timers(vt);
  std::vector<call> async_calls;
  ira::async_options<ira::virtual_timers> options{timers};
  options.on_retry = [&](std::uint32_t n, const std::error_code& code, nanoseconds next) {
    EXPECT_EQ(code, ir::win32_error{pending_deletion});
    async_calls.emplace_back(n, next);
  };
  std::optional<ir::retry_result<ir::win32_error>> result;
  ira::async_retry(
      io.get_executor(), policy, [](auto h) { h(pending_deletion); },
      [&](ir::retry_result<ir::win32_error> r) { result = r; }, options);
  timers.run(io);
  ASSERT_FALSE(sync_calls.empty());
  EXPECT_EQ(async_calls, sync_calls);  // (1, 10ms), (2, 20ms), (3, 40ms), (4, 30ms: clipped)
  ASSERT_TRUE(result && !result->has_value());
  EXPECT_EQ(result->error().reason, ir::stop_reason::deadline_exceeded);
}

TEST(AsyncRetry, ResultTypesAreReadAsRetryReadsThem) {
  net::io_context io;
  ir::virtual_time vt;
  ira::virtual_timers timers(vt);
  const ira::async_options<ira::virtual_timers> options{timers};
  // An HRESULT as long: 0x800732DF is PENDING_DELETION (transient), S_OK success.
  int calls = 0;
  std::optional<ir::retry_result<long>> hr;
  ira::async_retry<long>(
      io.get_executor(), parse("initial=1ms"),
      [&](auto h) { h(++calls < 2 ? static_cast<long>(0x800732DFu - 0x100000000LL) : 0L); },
      [&](ir::retry_result<long> r) { hr = r; }, options);
  // A std::error_code; a result<int> carrying a value on success.
  std::optional<ir::retry_result<std::error_code>> ec;
  ira::async_retry<std::error_code>(
      io.get_executor(), parse("initial=1ms"),
      [&](auto h) { h(std::error_code(access_denied, ir::win32_category())); },
      [&](ir::retry_result<std::error_code> r) { ec = r; }, options);
  std::optional<ir::retry_result<int>> value;
  int value_calls = 0;
  ira::async_retry<ir::outcome::std_result<int>>(
      io.get_executor(), parse("initial=1ms"),
      [&](auto h) {
        if (++value_calls < 3) {
          h(ir::outcome::std_result<int>(make_error_code(ir::win32_error{pending_deletion})));
        } else {
          h(ir::outcome::std_result<int>(42));
        }
      },
      [&](ir::retry_result<int> r) { value = r; }, options);
  timers.run(io);
  ASSERT_TRUE(hr && hr->has_value());
  EXPECT_EQ(calls, 2);
  ASSERT_TRUE(ec && !ec->has_value());
  EXPECT_EQ(ec->error().reason, ir::stop_reason::permanent_error);
  ASSERT_TRUE(value && value->has_value());
  EXPECT_EQ(value->value(), 42);
  EXPECT_EQ(value_calls, 3);
}

TEST(AsyncRetry, NeverCompletesInsideTheInitiatingCall) {
  net::io_context io;
  bool completed = false;
  ira::async_retry(
      io.get_executor(), parse("initial=1ms"), [](auto h) { h(0u); },
      [&](ir::retry_result<ir::win32_error>) { completed = true; });
  EXPECT_FALSE(completed);  // call 1 is posted
  io.run();
  EXPECT_TRUE(completed);
}

TEST(AsyncRetry, CancellationEndsALongWaitAtOnceInVirtualTime) {
  net::io_context io;
  ir::virtual_time vt;
  ira::virtual_timers timers(vt);
  ira::cancellation cancel;
  std::optional<ir::retry_result<ir::win32_error>> result;
  int calls = 0;
  ira::async_retry(
      io.get_executor(), parse("attempts=5, timeout=none, initial=1h, max_delay=1h, jitter=none"),
      [&](auto h) {
        ++calls;
        h(pending_deletion);
      },
      [&](ir::retry_result<ir::win32_error> r) { result = r; },
      ira::async_options<ira::virtual_timers>{timers, &cancel});
  io.poll();  // call 1 fails; the 1 h wait begins
  ASSERT_EQ(timers.pending(), 1u);
  cancel.emit();
  timers.run(io);
  ASSERT_TRUE(result && !result->has_value());
  EXPECT_EQ(result->error().reason, ir::stop_reason::cancelled);
  EXPECT_EQ(result->error().calls, 1u);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(vt.elapsed(), 0ms);  // the hour never passed
}

TEST(AsyncRetry, CancellationEndsAnHourLongRealTimerAtOnce) {
  net::io_context io;
  ira::cancellation cancel;
  std::optional<ir::retry_result<ir::win32_error>> result;
  ira::async_retry(
      io.get_executor(), parse("timeout=none, attempts=3, initial=1h, max_delay=1h, jitter=none"),
      [](auto h) { h(pending_deletion); }, [&](ir::retry_result<ir::win32_error> r) { result = r; },
      ira::async_options<>{{}, &cancel});
  net::steady_timer soon(io, 1ms);  // a real 1 ms, then cancel from the loop
  soon.async_wait([&](const boost::system::error_code&) { cancel.emit(); });
  const auto start = std::chrono::steady_clock::now();
  io.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);  // not the hour
  ASSERT_TRUE(result && !result->has_value());
  EXPECT_EQ(result->error().reason, ir::stop_reason::cancelled);
  EXPECT_EQ(result->error().calls, 1u);
}

TEST(AsyncRetry, CancelledBeforeTheFirstCallMakesNone) {
  ira::cancellation cancel;
  cancel.emit();
  const auto run = run_async(parse("initial=1ms"), {0}, &cancel);
  ASSERT_TRUE(run.result && !run.result->has_value());
  EXPECT_EQ(run.result->error().reason, ir::stop_reason::cancelled);
  EXPECT_EQ(run.result->error().calls, 0u);
  EXPECT_TRUE(run.starts.empty());
}

TEST(AsyncRetry, UseFutureAndCoroutines) {
  net::io_context io;
  ir::virtual_time vt;
  ira::virtual_timers timers(vt);
  const ira::async_options<ira::virtual_timers> options{timers};
  int calls = 0;
  const auto op = [&](auto h) { h(++calls < 3 ? pending_deletion : 0u); };
  std::future<ir::retry_result<ir::win32_error>> f = ira::async_retry(
      io.get_executor(), parse("initial=10ms, jitter=none"), op, net::use_future, options);
  timers.run(io);
  const auto r = f.get();
  EXPECT_TRUE(r.has_value());
  EXPECT_EQ(calls, 3);

  std::optional<ir::retry_result<ir::win32_error>> awaited;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        calls = 0;
        awaited = co_await ira::async_retry(io.get_executor(), parse("initial=10ms, jitter=none"),
                                            op, net::use_awaitable, options);
      },
      net::detached);
  timers.run(io);
  ASSERT_TRUE(awaited && awaited->has_value());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(vt.elapsed(), 60ms);  // 30 ms each
}

// A handler with an associated allocator that counts what it holds.
using counting_state = ir::test::allocation_tally;
using counting_allocator = ir::test::counting_allocator<char>;
struct allocating_handler {
  counting_state* state;
  bool* done;
  using allocator_type = counting_allocator;
  allocator_type get_allocator() const noexcept { return allocator_type(state); }
  void operator()(ir::retry_result<ir::win32_error> r) const {
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(state->live.load(), 0);  // the operation's memory was freed before the upcall
    *done = true;
  }
};

TEST(AsyncRetry, TheOperationsMemoryComesFromTheHandlersAllocator) {
  net::io_context io;
  ir::virtual_time vt;
  ira::virtual_timers timers(vt);
  counting_state state;
  bool done = false;
  int calls = 0;
  ira::async_retry(
      io.get_executor(), parse("initial=1ms"), [&](auto h) { h(++calls < 3 ? 170u : 0u); },
      allocating_handler{&state, &done}, ira::async_options<ira::virtual_timers>{timers});
  EXPECT_GE(state.allocations.load(), 1);
  timers.run(io);
  EXPECT_TRUE(done);
  EXPECT_EQ(state.live.load(), 0);
}

TEST(AsyncRetry, ManyConcurrentOperationsOnStrandsOverTwoThreads) {
  // Real time, short delays: 200 operations whose attempts complete on a thread pool, each
  // bound to its own strand of an io_context run by two threads.
  net::io_context io;
  net::thread_pool pool(2);
  constexpr int operations = 200;
  std::atomic<int> succeeded{0};
  std::atomic<int> total_calls{0};
  const auto policy = parse("timeout=10s, initial=100us, max_delay=1ms");
  for (int i = 0; i < operations; ++i) {
    auto strand = net::make_strand(io);
    auto calls = std::make_shared<int>(0);  // touched only on the strand
    ira::async_retry(
        strand, policy,
        [&pool, &total_calls, calls](auto h) {
          ++*calls;
          ++total_calls;
          const std::uint32_t code = *calls < 3 ? 170u : 0u;  // ERROR_BUSY twice
          net::post(pool, [h, code]() mutable { h(code); });
        },
        net::bind_executor(strand, [&succeeded, calls](ir::retry_result<ir::win32_error> r) {
          if (r && *calls == 3) ++succeeded;
        }));
  }
  std::thread second([&] { io.run(); });
  io.run();
  second.join();
  pool.join();
  EXPECT_EQ(succeeded.load(), operations);
  EXPECT_EQ(total_calls.load(), 3 * operations);
}

TEST(AsyncRetry, TenThousandConcurrentOperationsOnOneThreadAllComplete) {
  net::io_context io(1);
  ir::virtual_time vt;
  ira::virtual_timers timers(vt);
  const ira::async_options<ira::virtual_timers> options{timers};
  constexpr int operations = 10000;
  std::vector<int> calls(operations, 0);
  int succeeded = 0;
  const auto policy = parse("initial=10ms, jitter=none");
  for (int i = 0; i < operations; ++i) {
    ira::async_retry(
        io.get_executor(), policy,
        [&calls, i](auto h) {
          h(++calls[static_cast<std::size_t>(i)] < 4 ? pending_deletion : 0u);
        },
        [&succeeded](ir::retry_result<ir::win32_error> r) {
          if (r) ++succeeded;
        },
        options);
  }
  timers.run(io);
  EXPECT_EQ(succeeded, operations);
  EXPECT_EQ(vt.elapsed(), 70ms);  // 10 + 20 + 40: all concurrently
  EXPECT_EQ(timers.pending(), 0u);
}

// ---- Typed operations on the loop.

TEST(AsyncOperation, DeleteWaitsOutAPendingDeletionAsTheBlockingOneDoes) {
  const auto policy = parse("timeout=5s, initial=10ms, jitter=none");
  // Blocking, in virtual time.
  ir::virtual_time sync_vt;
  ipsec::simulated_agent sync_agent(sync_vt.clock());
  sync_agent.begin_deletion(ipsec::policy_kind::quick_mode, L"corp-qm", sync_vt.now() + 730ms);
  const auto expected =
      ipsec::delete_qm_policy(sync_agent, L"corp-qm", policy, ir::options().with_time(sync_vt));
  ASSERT_TRUE(expected);

  net::io_context io;
  ir::virtual_time vt;
  ira::virtual_timers timers(vt);
  ipsec::simulated_agent agent(vt.clock());
  agent.begin_deletion(ipsec::policy_kind::quick_mode, L"corp-qm", vt.now() + 730ms);
  std::optional<ir::retry_result<ipsec::operation_result>> result;
  const ipsec::operation_target target(ipsec::policy_kind::quick_mode,
                                       ipsec::agent_operation::remove, L"corp-qm");
  ira::async_run_operation(
      io.get_executor(), io.get_executor(), agent, target, policy,
      [&](ir::retry_result<ipsec::operation_result> r) { result = r; },
      ira::async_options<ira::virtual_timers>{timers});
  timers.run(io);
  ASSERT_TRUE(result && result->has_value()) << result->error().message();
  EXPECT_EQ(result->value(), expected.value());
  EXPECT_EQ(result->value().how, ipsec::completion::gone_after_pending);
  EXPECT_EQ(vt.elapsed(), sync_vt.elapsed());
  EXPECT_EQ(agent.calls(), sync_agent.calls());
}

TEST(AsyncOperation, ConcurrentDeletesCoalesceOnOnePendingDeletion) {
  const auto policy = parse("timeout=5s, initial=10ms, jitter=none");
  const auto agent_calls = [&](bool coalesce) {
    net::io_context io;
    ir::virtual_time vt;
    ira::virtual_timers timers(vt);
    ipsec::simulated_agent agent(vt.clock());
    agent.begin_deletion(ipsec::policy_kind::quick_mode, L"corp-qm", vt.now() + 730ms);
    ipsec::pending_deletion_waits waits;
    const ipsec::operation_target target(ipsec::policy_kind::quick_mode,
                                         ipsec::agent_operation::remove, L"corp-qm");
    int succeeded = 0;
    for (int i = 0; i < 20; ++i) {
      ira::async_run_operation(
          io.get_executor(), io.get_executor(), agent, target, policy,
          [&](ir::retry_result<ipsec::operation_result> r) {
            if (r) ++succeeded;
          },
          ira::async_options<ira::virtual_timers>{timers},
          coalesce ? ipsec::operation_options{.waits = &waits} : ipsec::operation_options{});
    }
    timers.run(io);
    EXPECT_EQ(succeeded, 20);
    return agent.calls();
  };
  // Alone: 8 calls each (0, 10, 30, ... 630 ms pending, NOT_FOUND at 1.27 s).
  EXPECT_EQ(agent_calls(false), 20u * 8u);
  // Coalesced: all 20 make call 1 at 0 (concurrently, before any answer is in), then one leads
  // (7 more calls) and the 19 followers wait without calling until it releases them, then make
  // one call each.
  EXPECT_EQ(agent_calls(true), 20u + 7u + 19u);
}

TEST(AsyncOperation, TheBlockingCallRunsOffTheLoop) {
  net::io_context io;
  net::thread_pool pool(1);
  ipsec::simulated_agent agent(ir::steady_clock_source{});
  agent.install(ipsec::policy_kind::quick_mode, L"corp-qm");
  const auto loop_thread = std::this_thread::get_id();
  std::optional<ir::retry_result<ipsec::operation_result>> result;
  const ipsec::operation_target target(ipsec::policy_kind::quick_mode,
                                       ipsec::agent_operation::remove, L"corp-qm");
  ira::async_run_operation(io.get_executor(), pool.get_executor(), agent, target,
                           parse("initial=1ms"), [&](ir::retry_result<ipsec::operation_result> r) {
                             EXPECT_EQ(std::this_thread::get_id(), loop_thread);  // on the loop
                             result = r;
                           });
  ASSERT_EQ(io.poll_one(), 1u);  // call 1 starts: the agent call goes to the pool
  pool.join();                   // which makes it while the loop runs nothing
  EXPECT_EQ(agent.calls(), 1u);
  EXPECT_FALSE(result.has_value());  // its completion waits for the loop
  io.run();
  ASSERT_TRUE(result && result->has_value());
  EXPECT_EQ(result->value().how, ipsec::completion::done);
}

// ---- Composites on the loop: the same reports as the blocking composites.

bool same_report(const ipsec::composite_report& a, const ipsec::composite_report& b) {
  if (a.step_count != b.step_count || a.failed != b.failed || a.agent_calls != b.agent_calls ||
      a.elapsed != b.elapsed) {
    return false;
  }
  for (std::size_t i = 0; i < a.step_count; ++i) {
    const auto &x = a.steps[i], &y = b.steps[i];
    if (x.object != y.object || x.op != y.op || x.ran != y.ran || x.stopped != y.stopped ||
        x.calls != y.calls || x.done != y.done || x.total != y.total ||
        x.last_code != y.last_code) {
      return false;
    }
  }
  return true;
}

std::string describe(const ipsec::composite_report& r) {
  std::string out =
      "calls " + std::to_string(r.agent_calls) + ", " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(r.elapsed).count()) +
      " ms:";
  for (const auto& step : r.step_list()) {
    out += " [" + step.name() + (step.ran ? "" : " (not run)") + ": " + std::to_string(step.calls) +
           " calls, " + std::to_string(step.done) + "/" + std::to_string(step.total) +
           (step.stopped ? ", stopped" : "") + "]";
  }
  return out;
}

constexpr ipsec::guid composite_filter_id{0xf1, 1, 2, {1, 2, 3, 4, 5, 6, 7, 8}};

// corp-qm used by one transport filter this caller holds; another client holds it until
// `held_for`.
struct replace_setup {
  ir::virtual_time vt;
  ipsec::simulated_agent agent{vt.clock()};
  ipsec::native_filter filter;
  std::array<ipsec::replaced_filter, 1> filters{};
  explicit replace_setup(nanoseconds held_for) {
    agent.install(ipsec::policy_kind::quick_mode, L"corp-qm");
    filter.kind = ipsec::filter_kind::transport;
    filter.id = composite_filter_id;
    filter.policy = L"corp-qm";
    filters[0].filter = filter;
    filters[0].handle = ipsec::filter_handle(agent, filter.kind,
                                             agent.install_filter(agent.default_client(), filter));
    auto& other = agent.connect();
    EXPECT_TRUE(agent.hold_until(other, agent.install_filter(other, filter), vt.now() + held_for));
  }
};

TEST(AsyncComposite, ReplaceGivesTheBlockingReplacesReport) {
  // 730 ms: succeeds after IN_USE on the policy delete; 10 s under a 5 s policy: stops there.
  for (const auto held_for : {nanoseconds{730ms}, nanoseconds{10s}}) {
    SCOPED_TRACE(held_for.count());
    const auto policy = parse("timeout=5s, initial=10ms, max_delay=1s, seed=5");
    const ipsec::step_policies steps{&policy, &policy, &policy, &policy, &policy};
    replace_setup sync(held_for);
    const auto expected =
        ipsec::replace_policy(sync.agent, ipsec::policy_kind::quick_mode, L"corp-qm", L"corp-qm",
                              {}, std::span(sync.filters), steps, ir::options().with_time(sync.vt));

    replace_setup async(held_for);
    net::io_context io;
    ira::virtual_timers timers(async.vt);
    std::optional<ipsec::composite_report> report;
    ira::async_replace_policy(
        io.get_executor(), io.get_executor(), async.agent, ipsec::policy_kind::quick_mode,
        L"corp-qm", L"corp-qm", {}, std::span(async.filters), steps,
        [&](ipsec::composite_report r) { report = r; },
        ira::async_options<ira::virtual_timers>{timers});
    timers.run(io);
    ASSERT_TRUE(report);
    EXPECT_TRUE(same_report(*report, expected))
        << "async: " << describe(*report) << "\nblocking: " << describe(expected);
    EXPECT_EQ(static_cast<bool>(*report), held_for == 730ms);
    EXPECT_EQ(report->left_behind(), expected.left_behind());
    EXPECT_EQ(static_cast<bool>(async.filters[0].handle),
              static_cast<bool>(sync.filters[0].handle));
    EXPECT_EQ(async.agent.state_of(ipsec::policy_kind::quick_mode, L"corp-qm"),
              sync.agent.state_of(ipsec::policy_kind::quick_mode, L"corp-qm"));
  }
}

constexpr ipsec::guid auth_id{0xa1, 1, 2, {1, 2, 3, 4, 5, 6, 7, 8}};

TEST(AsyncComposite, TeardownGivesTheBlockingTeardownsReport) {
  struct teardown_setup {
    ir::virtual_time vt;
    ipsec::simulated_agent agent{vt.clock()};
    std::array<ipsec::filter_handle, 1> handles;
    teardown_setup() {
      agent.install(ipsec::policy_kind::main_mode, L"corp-mm");
      agent.install_mm_auth_methods(auth_id);
      ipsec::native_filter f;
      f.kind = ipsec::filter_kind::main_mode;
      f.id = composite_filter_id;
      f.policy = L"corp-mm";
      f.auth_methods = auth_id;
      auto& other = agent.connect();
      EXPECT_TRUE(agent.hold_until(other, agent.install_filter(other, f), vt.now() + 100ms));
      handles[0] =
          ipsec::filter_handle(agent, f.kind, agent.install_filter(agent.default_client(), f));
    }
  };
  const std::array<ipsec::teardown_policy_ref, 1> policies{
      {{ipsec::policy_kind::main_mode, L"corp-mm"}}};
  const std::array<ipsec::guid, 1> auth{auth_id};
  const auto policy = parse("timeout=5s, initial=10ms, seed=9");
  const ipsec::step_policies steps{&policy, &policy, &policy, &policy, &policy};
  teardown_setup sync;
  const auto expected = ipsec::teardown(sync.agent, std::span(sync.handles), std::span(policies),
                                        std::span(auth), steps, ir::options().with_time(sync.vt));
  ASSERT_TRUE(expected);

  teardown_setup async;
  net::io_context io;
  ira::virtual_timers timers(async.vt);
  std::optional<ipsec::composite_report> report;
  ira::async_teardown(
      io.get_executor(), io.get_executor(), async.agent, std::span(async.handles),
      std::span(policies), std::span(auth), steps, [&](ipsec::composite_report r) { report = r; },
      ira::async_options<ira::virtual_timers>{timers});
  timers.run(io);
  ASSERT_TRUE(report);
  EXPECT_TRUE(same_report(*report, expected))
      << "async: " << describe(*report) << "\nblocking: " << describe(expected);
  EXPECT_GT(report->steps[1].calls, 1u);  // IN_USE until the other handle closes at 100 ms
  EXPECT_FALSE(async.handles[0]);
  EXPECT_EQ(async.agent.state_of(ipsec::policy_kind::main_mode, L"corp-mm"),
            ipsec::simulated_agent::state::absent);
}

TEST(AsyncComposite, ACancellationDuringAStepsWaitStopsTheCompositeAtThatStep) {
  replace_setup setup(730ms);
  net::io_context io;
  ira::virtual_timers timers(setup.vt);
  ira::cancellation cancel;
  std::optional<ipsec::composite_report> report;
  ira::async_replace_policy(
      io.get_executor(), io.get_executor(), setup.agent, ipsec::policy_kind::quick_mode, L"corp-qm",
      L"corp-qm", {}, std::span(setup.filters), {}, [&](ipsec::composite_report r) { report = r; },
      ira::async_options<ira::virtual_timers>{timers, &cancel});
  io.poll();  // the filter delete has succeeded; the policy delete waits on IN_USE
  cancel.emit();
  timers.run(io);
  ASSERT_TRUE(report);
  ASSERT_TRUE(report->failed.has_value());
  EXPECT_EQ(*report->failed, 1u);
  EXPECT_EQ(report->steps[1].stopped, ir::stop_reason::cancelled);
  EXPECT_FALSE(report->steps[2].ran);
  EXPECT_EQ(report->left_behind(), "the filters are removed and the old policy is still present");
}

}  // namespace
