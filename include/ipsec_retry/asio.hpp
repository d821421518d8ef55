// SPDX-License-Identifier: BSL-1.0
// ipsec_retry::asio: the retry loop, the typed Policy Agent operations and the composites on a
// Boost.Asio event loop (CMake target ipsec_retry::asio; not in the umbrella header). This header
// includes its three parts: asio/retry.hpp, asio/timers.hpp, asio/composites.hpp. docs/async.md.
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

#include <ipsec_retry/asio/composites.hpp>  // async_replace_policy, async_teardown
#include <ipsec_retry/asio/retry.hpp>       // async_retry, async_run_operation, cancellation
#include <ipsec_retry/asio/timers.hpp>      // steady_timers, virtual_timers
