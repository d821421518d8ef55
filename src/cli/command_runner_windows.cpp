// SPDX-License-Identifier: BSL-1.0
// command_runner on Windows: CreateProcessW on a quoted UTF-16 command line, one reader thread
// per output pipe, a console control handler for Ctrl-C and Ctrl-Break.
#include <windows.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "../windows_text.hpp"
#include "command_line.hpp"
#include "command_runner.hpp"

namespace ipsec_retry::cli {
namespace {

[[noreturn]] void fail(const char* what) {
  throw std::system_error(static_cast<int>(::GetLastError()), std::system_category(), what);
}

// An owned handle, closed when it goes.
class handle {
 public:
  handle() = default;
  explicit handle(HANDLE h) : h_(h) {}
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  ~handle() { reset(); }
  HANDLE get() const noexcept { return h_; }
  HANDLE* out() noexcept { return &h_; }
  void reset() noexcept {
    if (h_ != nullptr && h_ != INVALID_HANDLE_VALUE) ::CloseHandle(h_);
    h_ = nullptr;
  }

 private:
  HANDLE h_ = nullptr;
};

// An inheritable copy of one of this process's standard handles, for the command's (none if
// this process has none).
void inheritable_copy(DWORD which, handle& copy) {
  const HANDLE own = ::GetStdHandle(which);
  if (own == nullptr || own == INVALID_HANDLE_VALUE) return;
  const HANDLE self = ::GetCurrentProcess();
  if (!::DuplicateHandle(self, own, self, copy.out(), 0, TRUE, DUPLICATE_SAME_ACCESS)) {
    *copy.out() = nullptr;  // the command then gets none
  }
}

// A pipe whose write end the command inherits and whose read end it does not.
struct output_pipe {
  handle read;
  handle write;
  output_pipe() {
    SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    if (!::CreatePipe(read.out(), write.out(), &inherit, 0)) fail("CreatePipe");
    if (!::SetHandleInformation(read.get(), HANDLE_FLAG_INHERIT, 0)) fail("SetHandleInformation");
  }
};

// Copies one pipe to the sink until every write end is closed.
void pump(HANDLE pipe, bool from_stderr, const output_sink& sink, std::exception_ptr& error) {
  try {
    char buffer[65536];
    DWORD n = 0;
    while (::ReadFile(pipe, buffer, sizeof buffer, &n, nullptr) && n > 0) {
      sink(from_stderr, std::string_view(buffer, n));
    }
  } catch (...) {
    error = std::current_exception();
  }
}

std::string start_reason(DWORD error) {
  std::string text = detail::system_message_utf8(error);
  if (text.empty()) text = "error " + std::to_string(error);
  switch (error) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
      return text + " (not found on PATH)";
    case ERROR_ACCESS_DENIED:
      return text + " (not executable)";
    case ERROR_BAD_EXE_FORMAT:
      return text + " (not a Windows program)";
    default:
      return text;
  }
}

}  // namespace

struct command_runner::state {
  std::stop_source source;
  std::atomic<int> stopped_by{-1};  // CTRL_C_EVENT or CTRL_BREAK_EVENT once one came
};

namespace {

// The console control handler can only reach the runner through a global: the one runner
// alive at a time (the handler runs on a thread Windows creates for it, where request_stop is
// fine; the mutex keeps the runner from going away during a call).
std::mutex handler_mutex;
command_runner::state* handler_target = nullptr;

BOOL WINAPI on_console_control(DWORD event) {
  if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT) return FALSE;  // close, logoff: default
  const std::lock_guard lock(handler_mutex);
  if (handler_target == nullptr) return FALSE;
  int none = -1;
  handler_target->stopped_by.compare_exchange_strong(none, static_cast<int>(event));
  handler_target->source.request_stop();
  return TRUE;  // handled: this process goes on (the command got the event too)
}

}  // namespace

command_runner::command_runner() : state_(std::make_unique<state>()) {
  {
    const std::lock_guard lock(handler_mutex);
    handler_target = state_.get();
  }
  ::SetConsoleCtrlHandler(on_console_control, TRUE);
}

command_runner::~command_runner() {
  ::SetConsoleCtrlHandler(on_console_control, FALSE);
  const std::lock_guard lock(handler_mutex);
  handler_target = nullptr;
}

std::stop_token command_runner::stop_token() const noexcept {
  return state_->source.get_token();
}

std::string_view command_runner::stop_cause() const noexcept {
  switch (state_->stopped_by.load()) {
    case CTRL_C_EVENT:
      return "Ctrl-C";
    case CTRL_BREAK_EVENT:
      return "Ctrl-Break";
    default:
      return {};
  }
}

std::variant<child_exit, start_failure> command_runner::run(std::span<const std::string> argv,
                                                            const output_sink* sink) {
  const auto line = windows_command_line(argv);
  if (!line) return start_failure{"a program name cannot hold '\"'"};
  std::wstring command = detail::utf16_from_utf8(*line);

  STARTUPINFOW startup{};
  startup.cb = sizeof startup;
  startup.dwFlags = STARTF_USESTDHANDLES;
  handle in, out_copy, err_copy;
  inheritable_copy(STD_INPUT_HANDLE, in);
  startup.hStdInput = in.get();
  std::optional<output_pipe> out, err;
  if (sink != nullptr) {
    out.emplace();
    err.emplace();
    startup.hStdOutput = out->write.get();
    startup.hStdError = err->write.get();
  } else {
    inheritable_copy(STD_OUTPUT_HANDLE, out_copy);
    inheritable_copy(STD_ERROR_HANDLE, err_copy);
    startup.hStdOutput = out_copy.get();
    startup.hStdError = err_copy.get();
  }

  PROCESS_INFORMATION info{};
  // lpApplicationName null: the program is the command line's first word, looked for in the
  // application's directory, the current one, the system directories, then PATH (".exe" added
  // when it has no extension).
  if (!::CreateProcessW(nullptr, command.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr,
                        &startup, &info)) {
    return start_failure{start_reason(::GetLastError())};
  }
  handle process(info.hProcess);
  ::CloseHandle(info.hThread);
  // The command holds its own copies now: the pipes end when it (and what it started) exit.
  in.reset();
  out_copy.reset();
  err_copy.reset();

  if (sink != nullptr) {
    out->write.reset();
    err->write.reset();
    std::exception_ptr out_error, err_error;
    std::thread err_reader(
        [&] { pump(err->read.get(), true, *sink, err_error); });  // stderr on its own thread
    pump(out->read.get(), false, *sink, out_error);
    err_reader.join();
    if (out_error) std::rethrow_exception(out_error);
    if (err_error) std::rethrow_exception(err_error);
  }
  if (::WaitForSingleObject(process.get(), INFINITE) != WAIT_OBJECT_0) fail("WaitForSingleObject");
  DWORD code = 0;
  if (!::GetExitCodeProcess(process.get(), &code)) fail("GetExitCodeProcess");
  return child_exit{false, code};
}

}  // namespace ipsec_retry::cli
