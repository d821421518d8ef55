// SPDX-License-Identifier: BSL-1.0
// A downstream coroutine through the installed (or add_subdirectory) ipsec_retry::asio:
// co_await async_retry(..., use_awaitable) waits out two ERROR_BUSY answers on real timers.
#include <ipsec_retry/asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <iostream>

namespace ir = ipsec_retry;
namespace net = boost::asio;

int main() {
  net::io_context io;
  int calls = 0;
  bool ok = false;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        const auto policy = ir::retry_policy::parse("initial=1ms, jitter=none").value();
        const auto r = co_await ir::asio::async_retry(
            io.get_executor(), policy, [&](auto h) { h(++calls < 3 ? std::uint32_t{170} : 0u); },
            net::use_awaitable);
        ok = r.has_value() && calls == 3;
      },
      net::detached);
  io.run();
  if (!ok) {
    std::cerr << "async consumer failed after " << calls << " calls\n";
    return 1;
  }
  std::cout << "async consumer ok: 3 calls\n";
  return 0;
}
