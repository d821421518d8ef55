// SPDX-License-Identifier: BSL-1.0
// Replaces three QM policies concurrently from C++20 coroutines on one io_context thread
// (ipsec_retry::asio, docs/async.md). Each old policy is pending deletion for a different
// time; each coroutine deletes it (waiting the deletion out on the loop's timers, the agent
// call made off the loop) and then adds the new one. The three waits overlap, so the whole
// replace takes as long as the slowest deletion, not the sum.
//
// It runs against the simulated Policy Agent in virtual time (asio::virtual_timers): the same
// code on a service uses the real agent, a thread_pool's executor for the blocking calls and
// the default steady timers.
#include <ipsec_retry/asio.hpp>
#include <ipsec_retry/ipsec/simulated_agent.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

namespace ir = ipsec_retry;
namespace ipsec = ipsec_retry::ipsec;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

std::string narrow(std::wstring_view w) {
  return {w.begin(), w.end()};
}  // ASCII names

}  // namespace

int main() {
  net::io_context io;
  ir::virtual_time time;
  ir::asio::virtual_timers timers(time);
  ipsec::simulated_agent agent(time.clock());

  struct job {
    std::wstring name;
    std::chrono::milliseconds pending_for;
  };
  const std::vector<job> jobs{{L"corp-a", 120ms}, {L"corp-b", 400ms}, {L"corp-c", 730ms}};
  for (const job& j : jobs) {
    agent.begin_deletion(ipsec::policy_kind::quick_mode, j.name, time.now() + j.pending_for);
  }
  const ir::asio::async_options<ir::asio::virtual_timers> options{timers};
  const ir::retry_policy delete_policy = ipsec::builtin_policy(ipsec::agent_operation::remove);
  const ir::retry_policy add_policy = ipsec::builtin_policy(ipsec::agent_operation::add);

  int replaced = 0;
  for (const job& j : jobs) {
    net::co_spawn(
        io,
        [&, name = j.name]() -> net::awaitable<void> {
          const ipsec::operation_target remove(ipsec::policy_kind::quick_mode,
                                               ipsec::agent_operation::remove, name);
          // In virtual time the (non-blocking) simulated agent runs on the loop itself.
          const auto deleted = co_await ir::asio::async_run_operation(
              io.get_executor(), io.get_executor(), agent, remove, delete_policy,
              net::use_awaitable, options);
          if (!deleted) {
            std::cout << narrow(name) << ": delete failed: " << deleted.error().message() << '\n';
            co_return;
          }
          const auto at_delete = time.elapsed();
          const ipsec::operation_target add(ipsec::policy_kind::quick_mode,
                                            ipsec::agent_operation::add, name);
          const auto added =
              co_await ir::asio::async_run_operation(io.get_executor(), io.get_executor(), agent,
                                                     add, add_policy, net::use_awaitable, options);
          if (!added) {
            std::cout << narrow(name) << ": add failed: " << added.error().message() << '\n';
            co_return;
          }
          ++replaced;
          std::cout << narrow(name) << ": deleted after " << deleted.value().calls
                    << " calls (gone after pending: "
                    << (deleted.value().how == ipsec::completion::gone_after_pending ? "yes" : "no")
                    << ") at " << std::chrono::duration<double, std::milli>(at_delete).count()
                    << " ms, re-added\n";
        },
        net::detached);
  }
  timers.run(io);
  std::cout << "Replaced " << replaced << " of " << jobs.size() << " policies concurrently in "
            << std::chrono::duration<double, std::milli>(time.elapsed()).count()
            << " ms of virtual time with " << agent.calls() << " agent calls\n";
  return replaced == static_cast<int>(jobs.size()) ? 0 : 1;
}
