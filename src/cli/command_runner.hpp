// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry run`'s platform layer: starts the command and waits for it (POSIX:
// posix_spawnp, waitpid; Windows: CreateProcessW, GetExitCodeProcess), passes its output on when
// asked, and turns an interrupt into a stop request (docs/cli.md, "run").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <variant>

namespace ipsec_retry::cli {

/// How one run of the command ended.
struct child_exit {
  bool signalled = false;    ///< POSIX: killed by a signal, `status` is its number
  std::uint32_t status = 0;  ///< the exit status (POSIX 0-255, Windows the full 32-bit code)
};

/// Why the command could not be started, e.g. "No such file or directory (not found on PATH)".
struct start_failure {
  std::string reason;
};

/// Gets the command's output as it arrives, a chunk at a time, `from_stderr` saying which
/// stream. Calls for one stream come in order and never overlap; on Windows each stream is read
/// by its own thread, so calls for the two streams may.
using output_sink = std::function<void(bool from_stderr, std::string_view bytes)>;

/// For its lifetime: SIGINT and SIGTERM (Windows: Ctrl-C and Ctrl-Break) request a stop on
/// stop_token() instead of ending the process. On POSIX the two signals are blocked in the
/// constructing thread and a thread of its own takes them with sigwait() (a signal handler may
/// not call request_stop: it is not async-signal-safe); construct it before starting any other
/// thread that does not block them. SIGTERM is also passed on to the command while one runs
/// (SIGINT from a terminal reaches the command directly: it is in the same process group).
/// One per `run` command; not thread-safe.
class command_runner {
 public:
  command_runner();
  ~command_runner();
  command_runner(const command_runner&) = delete;
  command_runner& operator=(const command_runner&) = delete;

  std::stop_token stop_token() const noexcept;
  /// What asked to stop ("SIGINT", "SIGTERM", "Ctrl-C", "Ctrl-Break"), "" if nothing did.
  std::string_view stop_cause() const noexcept;

  /// Runs argv[0] (found on PATH) with the other arguments and waits until it has exited.
  /// Without a sink the command writes to this process's stdout and stderr itself. With one,
  /// each of its two streams goes through a pipe to the sink, and the run ends when the command
  /// has exited and every copy of the pipes' write ends is closed (a background process it
  /// started keeps them open). Throws std::system_error if the pipes or the wait fail.
  std::variant<child_exit, start_failure> run(std::span<const std::string> argv,
                                              const output_sink* sink);

  /// Defined by each platform's runner; public only so that its signal plumbing (a console
  /// control handler on Windows) can name it.
  struct state;

 private:
  std::unique_ptr<state> state_;
};

}  // namespace ipsec_retry::cli
