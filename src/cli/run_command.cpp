// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry run`: a command run again under a retry policy, its exit status (or a code its
// output names, --code-from) classified as a Windows code by the library's own retry loop.
#include <ipsec_retry/retry.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <ostream>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "command_runner.hpp"
#include "commands.hpp"
#include "host_sites.hpp"
#include "json.hpp"
#include "output.hpp"
#include "recording_agent.hpp"
#include "simulate.hpp"

#if defined(_WIN32)
#include <fcntl.h>
#include <io.h>

#include <cstdio>
#include <iostream>
#endif

namespace ipsec_retry::cli {
namespace {

using std::chrono::steady_clock;

// ERROR_PROCESS_ABORTED ("The process terminated unexpectedly"): what a run killed by a signal
// counts as. Not in the code table, so permanent unless the policy's retry_on names it.
constexpr std::uint32_t killed_by_signal = 1067;
// The exit status when a stop came before the first run (128 + SIGINT, as a shell reports it).
constexpr int exit_interrupted = 130;
// --code-from matches a line on its first max_line bytes: std::regex recurses per character,
// and a long line could overflow the stack.
constexpr std::size_t max_line = 4096;

// Thrown out of the op (retry() passes exceptions through untouched): the command could not be
// started, or a stop came between a wait and the next run.
struct cannot_start {
  std::string reason;
};
struct stopped_before_run {};

// The first line of one stream in which --code-from matches with group 1 taking part, looked
// for as the bytes arrive, so only the line being read is kept. A trailing '\r' is not part of
// the line.
class line_scanner {
 public:
  explicit line_scanner(const std::regex& pattern) : pattern_(&pattern) {}

  void feed(std::string_view bytes) {
    while (!bytes.empty() && !found_) {
      const std::size_t newline = bytes.find('\n');
      const std::string_view piece = bytes.substr(0, newline);
      if (line_.size() < max_line) line_.append(piece.substr(0, max_line - line_.size()));
      if (newline == std::string_view::npos) return;
      end_line();
      bytes.remove_prefix(newline + 1);
    }
  }
  /// The stream ended: its last line may have had no newline.
  void finish() {
    if (!found_ && !line_.empty()) end_line();
  }
  const std::optional<std::string>& found() const noexcept { return found_; }

 private:
  void end_line() {
    std::string_view text = line_;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    std::match_results<std::string_view::const_iterator> match;
    if (std::regex_search(text.begin(), text.end(), match, *pattern_) && match[1].matched) {
      found_ = match[1].str();
    }
    line_.clear();
  }

  const std::regex* pattern_;
  std::string line_;
  std::optional<std::string> found_;
};

std::string signal_text(std::uint32_t signal) {
#if defined(_WIN32)
  return std::to_string(signal);
#else
  const char* name = ::strsignal(static_cast<int>(signal));
  return std::to_string(signal) + (name != nullptr ? " (" + std::string(name) + ")" : "");
#endif
}

// The policy --policy or --site gives, or nullopt after the error is written.
std::optional<retry_policy> policy_of(const run_args& args, std::ostream& err) {
  if (args.policy.has_value() == args.site.has_value()) {
    err << "ipsec-retry run: give --policy POLICY or --site NAME (one of them)\n";
    return std::nullopt;
  }
  if (args.policy) return parse_policy_arg(*args.policy, "run", err);
  ipsec::call_site_registry sites;
  if (!load_host_sites(sites, {args.config, true}, "run", err)) return std::nullopt;
  auto policy = sites.policy(*args.site);
  if (!policy) {
    err << "ipsec-retry run: bad --site '" << *args.site << "': " << policy.error().problem << '\n';
    return std::nullopt;
  }
  return policy.value();
}

// --code-from's pattern, or nullopt after the error is written.
std::optional<std::regex> pattern_of(const std::string& text, std::ostream& err) {
  std::regex pattern;
  try {
    pattern.assign(text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    err << "ipsec-retry run: bad --code-from '" << text << "': " << e.what() << '\n';
    return std::nullopt;
  }
  if (pattern.mark_count() == 0) {
    err << "ipsec-retry run: bad --code-from '" << text
        << "': no capture group; the code is what group 1 matches, e.g. 'failed: (\\S+)'\n";
    return std::nullopt;
  }
  return pattern;
}

// The tool's exit status for the last run: its own exit status (a run killed by a signal:
// 128 + the signal, as a shell reports it), or exit_interrupted when there was none.
int exit_status_of(const std::optional<child_exit>& last) {
  if (!last) return exit_interrupted;
  if (last->signalled) return 128 + static_cast<int>(last->status);
  return static_cast<int>(last->status);  // on Windows the full 32 bits, as ExitProcess takes
}

}  // namespace

int run_command(const run_args& args, std::ostream& out, std::ostream& err) {
  const auto policy = policy_of(args, err);
  if (!policy) return exit_bad_input;
  std::optional<std::regex> pattern;
  if (args.code_from) {
    pattern = pattern_of(*args.code_from, err);
    if (!pattern) return exit_bad_input;
  }
  if (args.command.empty()) {
    err << "ipsec-retry run: no COMMAND given (ipsec-retry run --policy POLICY -- COMMAND "
           "[ARG...])\n";
    return exit_bad_input;
  }
  const std::string& program = args.command.front();

#if defined(_WIN32)
  // The command's bytes pass through unchanged: no CR added before its LFs.
  if (pattern && &out == &std::cout) {
    std::cout.flush();
    ::_setmode(::_fileno(stdout), _O_BINARY);
  }
  if (pattern && &err == &std::cerr) {
    std::cerr.flush();
    ::_setmode(::_fileno(stderr), _O_BINARY);
  }
#endif

  command_runner runner;
  std::vector<call_record> timeline;
  std::optional<child_exit> last;
  std::optional<line_scanner> out_scan, err_scan;
  std::mutex write_mutex;  // out and err may be one stream
  const output_sink sink = [&](bool from_stderr, std::string_view bytes) {
    if (auto& scan = from_stderr ? err_scan : out_scan) scan->feed(bytes);
    std::ostream& to = from_stderr ? err : out;
    const std::lock_guard lock(write_mutex);
    to.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    to.flush();
  };
  std::optional<steady_clock::time_point> start;  // when run 1 started

  // One run: the code it ended with, as the classifier reads it (a DWORD, so an HRESULT such
  // as 0x800732DF is normalized by the loop).
  const auto run_once = [&](const std::stop_token& stop) -> std::uint32_t {
    if (stop.stop_requested()) throw stopped_before_run{};
    const auto now = steady_clock::now();
    if (!start) start = now;
    const auto at = now - *start;
    if (pattern) {
      out_scan.emplace(*pattern);
      err_scan.emplace(*pattern);
    } else {
      out.flush();  // the command writes to the same stdout and stderr
      err.flush();
    }
    auto ended = runner.run(args.command, pattern ? &sink : nullptr);
    if (auto* failure = std::get_if<start_failure>(&ended)) throw cannot_start{failure->reason};
    last = std::get<child_exit>(ended);
    std::uint32_t code = last->status;
    if (last->signalled) {
      err << "ipsec-retry run: '" << program << "' was killed by signal "
          << signal_text(last->status) << "; counted as ERROR_PROCESS_ABORTED (1067)\n";
      code = killed_by_signal;
    } else if (pattern) {
      out_scan->finish();
      err_scan->finish();
      const auto& found = out_scan->found() ? out_scan->found() : err_scan->found();
      if (found) {
        if (const auto parsed = parse_code(*found)) {
          code = parsed.value();
        } else {
          err << "ipsec-retry run: --code-from matched '" << *found << "', which is not a code ("
              << parsed.error().message() << "); using the exit status " << code << '\n';
        }
      }
    }
    timeline.push_back({at, win32_error{normalize(hresult{code})}});
    return code;
  };
  // Without --json, a line on stderr before each wait (with it, only the summary).
  const auto announce = [&](std::uint32_t call, const std::error_code&, nanoseconds next) {
    if (args.json || timeline.empty()) return;
    err << "ipsec-retry run: run " << call << ": "
        << code_label(to_underlying(timeline.back().code)) << " (transient); running again in "
        << human_duration(next) << '\n';
  };

  bool succeeded = false;
  stop_reason reason = stop_reason::cancelled;
  try {
    const auto result =
        retry(*policy, run_once, options().with_stop(runner.stop_token()).with_on_retry(announce));
    succeeded = result.has_value();
    if (!result) reason = result.error().reason;
  } catch (const cannot_start& e) {
    err << "ipsec-retry run: cannot run '" << program << "': " << e.reason << '\n';
    return exit_bad_input;
  } catch (const stopped_before_run&) {
    reason = stop_reason::cancelled;
  }
  const nanoseconds elapsed = start ? steady_clock::now() - *start : nanoseconds::zero();
  // A stop ends the run as cancelled whatever the last run's verdict (a command interrupted by
  // the same Ctrl-C typically fails permanently), unless that run succeeded.
  const std::string outcome = succeeded ? "succeeded"
                              : runner.stop_token().stop_requested()
                                  ? "cancelled"
                                  : std::string(to_string(reason));
  const bool any_run = !timeline.empty();
  const std::uint32_t last_code = any_run ? to_underlying(timeline.back().code) : 0;

  if (args.json) {
    const auto info = any_run ? find_code(last_code) : std::nullopt;
    json_writer json(err);
    json.begin_object()
        .field("outcome", outcome)
        .field("calls", timeline.size())
        .field("elapsed_ns", elapsed.count())
        .field("last_code", any_run ? std::optional(last_code) : std::nullopt)
        .field("last_code_name", info ? std::optional<std::string_view>(info->name) : std::nullopt)
        .field("exit_code", last && !last->signalled ? std::optional(last->status) : std::nullopt)
        .field("signal", last && last->signalled ? std::optional(last->status) : std::nullopt)
        .field("stop_cause", runner.stop_cause().empty()
                                 ? std::nullopt
                                 : std::optional<std::string_view>(runner.stop_cause()))
        .field("policy", policy->format());
    write_timeline(json, timeline);
    json.end_object();
    err << '\n';
  } else if (!succeeded) {
    err << "ipsec-retry run: " << outcome;
    if (!runner.stop_cause().empty()) err << " (" << runner.stop_cause() << ")";
    err << " after " << timeline.size() << (timeline.size() == 1 ? " run" : " runs") << " in "
        << human_duration(elapsed);
    if (any_run) err << "; last code " << code_label(last_code);
    err << '\n';
  }
  return exit_status_of(last);
}

}  // namespace ipsec_retry::cli
