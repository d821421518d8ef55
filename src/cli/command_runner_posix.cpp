// SPDX-License-Identifier: BSL-1.0
// command_runner on POSIX: posix_spawnp, poll() over two pipes, a sigwait() thread.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "command_runner.hpp"

extern char** environ;  // NOLINT: POSIX declares it nowhere else

namespace ipsec_retry::cli {
namespace {

[[noreturn]] void fail(int error, const char* what) {
  throw std::system_error(error, std::generic_category(), what);
}

// A pipe whose two ends are closed on exec, so only the dup2()ed copy reaches the command.
struct pipe_fds {
  int read = -1;
  int write = -1;
  pipe_fds() {
    int fds[2];
    if (::pipe(fds) != 0) fail(errno, "pipe");
    read = fds[0];
    write = fds[1];
    for (const int fd : fds) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  pipe_fds(const pipe_fds&) = delete;
  pipe_fds& operator=(const pipe_fds&) = delete;
  ~pipe_fds() {
    close_read();
    close_write();
  }
  void close_read() noexcept {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void close_write() noexcept {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

struct spawn_setup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  spawn_setup() {
    if (const int e = ::posix_spawn_file_actions_init(&actions)) fail(e, "posix_spawn");
    if (const int e = ::posix_spawnattr_init(&attributes)) {
      ::posix_spawn_file_actions_destroy(&actions);
      fail(e, "posix_spawn");
    }
  }
  spawn_setup(const spawn_setup&) = delete;
  spawn_setup& operator=(const spawn_setup&) = delete;
  ~spawn_setup() {
    ::posix_spawnattr_destroy(&attributes);
    ::posix_spawn_file_actions_destroy(&actions);
  }
};

std::string start_reason(int error, const std::string& program) {
  std::string text = std::strerror(error);
  const bool searched = program.find('/') == std::string::npos;
  switch (error) {
    case ENOENT:
      return text + (searched ? " (not found on PATH)" : " (no such file)");
    case EACCES:
      return text + " (not executable, or a directory on the way is not searchable)";
    case ENOEXEC:
      return text + " (not an executable format; a script needs a #! line)";
    default:
      return text;
  }
}

// Copies both pipes to the sink as data arrives, until both are at end of file.
void pump(pipe_fds& out, pipe_fds& err, const output_sink& sink) {
  std::array<pollfd, 2> fds{{{out.read, POLLIN, 0}, {err.read, POLLIN, 0}}};
  std::array<char, 65536> buffer;
  int open = 2;
  while (open > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      fail(errno, "poll");
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        sink(i == 1, std::string_view(buffer.data(), static_cast<std::size_t>(n)));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;  // poll() skips negative descriptors
        --open;
      }
    }
  }
}

}  // namespace

struct command_runner::state {
  std::stop_source source;
  sigset_t signals{};   // SIGINT, SIGTERM
  sigset_t original{};  // the constructing thread's mask, which the command gets
  std::thread waiter;
  std::atomic<bool> quit{false};
  std::atomic<int> stopped_by{0};
  std::mutex child_mutex;  // guards child: a pid is only signalled while it is not reaped
  pid_t child = 0;

  void wait_for_signals() {
    for (;;) {
      int signal = 0;
      if (::sigwait(&signals, &signal) != 0) continue;
      if (quit.load()) return;
      int expected = 0;
      stopped_by.compare_exchange_strong(expected, signal);
      if (signal == SIGTERM) {
        const std::lock_guard lock(child_mutex);
        if (child != 0) ::kill(child, SIGTERM);
      }
      source.request_stop();
    }
  }
};

command_runner::command_runner() : state_(std::make_unique<state>()) {
  sigemptyset(&state_->signals);
  sigaddset(&state_->signals, SIGINT);
  sigaddset(&state_->signals, SIGTERM);
  if (const int e = ::pthread_sigmask(SIG_BLOCK, &state_->signals, &state_->original)) {
    fail(e, "pthread_sigmask");
  }
  try {
    state_->waiter = std::thread([s = state_.get()] { s->wait_for_signals(); });
  } catch (...) {
    ::pthread_sigmask(SIG_SETMASK, &state_->original, nullptr);
    throw;
  }
}

command_runner::~command_runner() {
  state_->quit.store(true);
  // Directed at the waiting thread, which has the signal blocked: its sigwait() takes it.
  ::pthread_kill(state_->waiter.native_handle(), SIGTERM);
  state_->waiter.join();
  ::pthread_sigmask(SIG_SETMASK, &state_->original, nullptr);
}

std::stop_token command_runner::stop_token() const noexcept {
  return state_->source.get_token();
}

std::string_view command_runner::stop_cause() const noexcept {
  switch (state_->stopped_by.load()) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return {};
  }
}

std::variant<child_exit, start_failure> command_runner::run(std::span<const std::string> argv,
                                                            const output_sink* sink) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  spawn_setup setup;
  // The command gets the signal mask this process had, not the one blocking SIGINT and SIGTERM.
  if (const int e = ::posix_spawnattr_setsigmask(&setup.attributes, &state_->original)) {
    fail(e, "posix_spawnattr_setsigmask");
  }
  if (const int e = ::posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK)) {
    fail(e, "posix_spawnattr_setflags");
  }
  std::optional<pipe_fds> out, err;
  if (sink != nullptr) {
    out.emplace();
    err.emplace();
    if (const int e = ::posix_spawn_file_actions_adddup2(&setup.actions, out->write, 1)) {
      fail(e, "posix_spawn_file_actions_adddup2");
    }
    if (const int e = ::posix_spawn_file_actions_adddup2(&setup.actions, err->write, 2)) {
      fail(e, "posix_spawn_file_actions_adddup2");
    }
  }

  pid_t pid = 0;
  {
    const std::lock_guard lock(state_->child_mutex);
    const int e =
        ::posix_spawnp(&pid, args[0], &setup.actions, &setup.attributes, args.data(), environ);
    if (e != 0) return start_failure{start_reason(e, argv[0])};
    state_->child = pid;
  }
  if (sink != nullptr) {
    out->close_write();  // the command holds the only write ends now: end of file when it exits
    err->close_write();
    pump(*out, *err, *sink);
  }

  // Wait without reaping, so that a SIGTERM passed on can never reach a recycled pid.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0) {
    if (errno != EINTR) fail(errno, "waitid");
  }
  int status = 0;
  {
    const std::lock_guard lock(state_->child_mutex);
    state_->child = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) fail(errno, "waitpid");
    }
  }
  if (WIFSIGNALED(status)) return child_exit{true, static_cast<std::uint32_t>(WTERMSIG(status))};
  return child_exit{false, static_cast<std::uint32_t>(WEXITSTATUS(status))};
}

}  // namespace ipsec_retry::cli
