// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry run` (docs/cli.md, "run"): real commands under a policy, driven in-process
// through cli::run, plus the Windows command-line quoting (a pure function, every platform).
// The policies wait 1 ms at most between runs, so every test takes a few ms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "command_line.hpp"

namespace {

namespace fs = std::filesystem;
using ipsec_retry::cli::quote_windows_argument;
using ipsec_retry::cli::quote_windows_program;
using ipsec_retry::cli::windows_command_line;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A fresh directory for one test's files, removed afterwards.
class temp_dir {
 public:
  temp_dir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("ipsec_retry_cli_run_" + std::string(info->test_suite_name()) + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// How many times a command that counts its runs in `counter` ran.
int runs_counted(const fs::path& counter) {
  const std::string text = read_file(counter);
  return text.empty() ? 0 : std::stoi(text);
}

}  // namespace

// --- Windows command-line quoting (every platform) ---------------------------------------

// What the C runtime's argv parser (and CommandLineToArgvW) reads back, for an argument after
// the program name: the rules quote_windows_argument writes for, implemented independently
// so each case checks a round trip as well as the exact text.
std::vector<std::string> parse_windows_arguments(const std::string& line) {
  std::vector<std::string> args;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) break;
    std::string arg;
    bool quoted = false;
    while (i < line.size() && (quoted || (line[i] != ' ' && line[i] != '\t'))) {
      std::size_t backslashes = 0;
      while (i < line.size() && line[i] == '\\') {
        ++backslashes;
        ++i;
      }
      if (i < line.size() && line[i] == '"') {
        arg.append(backslashes / 2, '\\');
        if (backslashes % 2 == 1) {
          arg += '"';
        } else {
          quoted = !quoted;
        }
        ++i;
      } else {
        arg.append(backslashes, '\\');
        if (i < line.size() && (quoted || (line[i] != ' ' && line[i] != '\t'))) arg += line[i++];
      }
    }
    args.push_back(arg);
  }
  return args;
}

struct quote_case {
  std::string arg;
  std::string quoted;
};

TEST(CliRunQuoting, ArgumentsRoundTripThroughTheRuntimeRules) {
  const std::vector<quote_case> cases = {
      {"plain", "plain"},
      {"", "\"\""},
      {"a b", "\"a b\""},
      {"tab\there", "\"tab\there\""},
      {"line\nbreak", "\"line\nbreak\""},
      {"say \"hi\"", "\"say \\\"hi\\\"\""},
      {"\"", "\"\\\"\""},
      {"C:\\Program Files\\x\\", "\"C:\\Program Files\\x\\\\\""},  // trailing \ doubled
      {"C:\\dir\\file", "C:\\dir\\file"},                          // no quotes: \ literal
      {"a\\\"b", "\"a\\\\\\\"b\""},                                // \" -> \\\"
      {"a\\\\\"b", "\"a\\\\\\\\\\\"b\""},                          // \\" -> \\\\\"
      {"\\\\server\\share", "\\\\server\\share"},
      {"a\\ b", "\"a\\ b\""},  // a backslash before a blank stays single
      {"\\", "\\"},
      {"\\ ", "\"\\ \""},
      {"x\\\\", "x\\\\"},
      {"x\\\\ ", "\"x\\\\ \""},
      {"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC", "\"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC\""},  // UTF-8 copied
      {"--code-from=(\\d+)", "--code-from=(\\d+)"},
  };
  for (const quote_case& c : cases) {
    EXPECT_EQ(quote_windows_argument(c.arg), c.quoted) << "argument: " << c.arg;
    const auto back = parse_windows_arguments("prog " + quote_windows_argument(c.arg));
    ASSERT_EQ(back.size(), 2u) << "argument: " << c.arg;
    EXPECT_EQ(back[1], c.arg);
  }
}

TEST(CliRunQuoting, ProgramNameIsQuotedOnlyForBlanksAndCannotHoldAQuote) {
  EXPECT_EQ(quote_windows_program("cmd.exe"), "cmd.exe");
  EXPECT_EQ(quote_windows_program("C:\\Program Files\\x\\tool.exe"),
            "\"C:\\Program Files\\x\\tool.exe\"");
  EXPECT_EQ(quote_windows_program("C:\\odd dir\\"), "\"C:\\odd dir\\\"");  // no escapes here
  EXPECT_EQ(quote_windows_program(""), "\"\"");
  EXPECT_EQ(quote_windows_program("a\"b"), std::nullopt);
}

TEST(CliRunQuoting, CommandLineJoinsProgramAndArguments) {
  const std::vector<std::string> argv = {"C:\\My Tools\\t.exe", "", "a b", "x\\", "q\"", "plain"};
  const auto line = windows_command_line(argv);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "\"C:\\My Tools\\t.exe\" \"\" \"a b\" x\\ \"q\\\"\" plain");
  const auto back = parse_windows_arguments(*line);
  ASSERT_EQ(back.size(), argv.size());
  for (std::size_t i = 1; i < argv.size(); ++i) EXPECT_EQ(back[i], argv[i]);
  EXPECT_EQ(windows_command_line(std::vector<std::string>{}), std::nullopt);
  EXPECT_EQ(windows_command_line(std::vector<std::string>{"bad\"name", "x"}), std::nullopt);
}

// --- Input errors (every platform) ---------------------------------------------------------

TEST(CliRun, PolicyOrSiteIsRequiredAndNotBoth) {
  auto r = run_cli({"run", "--", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "give --policy POLICY or --site NAME")) << r.err;
  r = run_cli({"run", "--policy", "attempts=1", "--site", "qm.delete", "--", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "--policy excludes --site")) << r.err;
  r = run_cli({"run", "--policy", "atempts=1", "--", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "ipsec-retry run: bad policy 'atempts=1'")) << r.err;
}

TEST(CliRun, CommandGoesAfterDashes) {
  auto r = run_cli({"run", "--policy", "attempts=1", "sh"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "COMMAND and its arguments go after '--'")) << r.err;
  r = run_cli({"run", "--policy", "attempts=1", "--"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "no COMMAND after '--'")) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliRun, BadRegexIsNamed) {
  auto r = run_cli({"run", "--policy", "attempts=1", "--code-from", "failed: (", "--", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "ipsec-retry run: bad --code-from 'failed: ('")) << r.err;
  r = run_cli({"run", "--policy", "attempts=1", "--code-from", "failed: \\S+", "--", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "no capture group")) << r.err;
}

TEST(CliRun, CommandNotFoundIsBadInputAndNotRetried) {
  const auto r = run_cli(
      {"run", "--json", "--policy", "initial=1ms", "--", "ipsec-retry-no-such-command", "arg"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "ipsec-retry run: cannot run 'ipsec-retry-no-such-command': ")) << r.err;
  EXPECT_FALSE(has(r.err, "\"outcome\"")) << r.err;  // no summary: nothing ran
  EXPECT_TRUE(r.out.empty());
}

TEST(CliRun, SiteConfigErrorsNameTheFileAndLine) {
  temp_dir dir;
  const fs::path config = dir / "bad.conf";
  std::ofstream(config) << "# sites\nqm.delete: timeout=5\n";
  const auto r = run_cli({"run", "--site", "qm.delete", "--config", config.string(), "--", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "ipsec-retry run: " + config.string() + ":2 (qm.delete): column "))
      << r.err;
  const auto missing =
      run_cli({"run", "--site", "qm.delete", "--config", (dir / "none.conf").string(), "--", "x"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(has(missing.err, "cannot read --config")) << missing.err;
  const auto unknown = run_cli({"run", "--site", "qm.delet", "--", "x"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(has(unknown.err, "bad --site 'qm.delet'")) << unknown.err;
  EXPECT_TRUE(has(unknown.err, "did you mean 'qm.delete'")) << unknown.err;
}

#ifndef _WIN32

// --- POSIX commands --------------------------------------------------------------------------

namespace {

// A `sh -c` script that counts its runs in `counter` and exits with codes[k-1] on run k (the
// last code from then on), after running `before` (e.g. an echo).
std::string counting_script(const fs::path& counter, const std::vector<int>& codes,
                            const std::string& before = "") {
  std::string script = "n=$(cat '" + counter.string() +
                       "' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '" + counter.string() +
                       "'; " + (before.empty() ? "" : before + "; ") + "case $n in ";
  for (std::size_t i = 0; i + 1 < codes.size(); ++i) {
    script += std::to_string(i + 1) + ") exit " + std::to_string(codes[i]) + ";; ";
  }
  return script + "*) exit " + std::to_string(codes.back()) + ";; esac";
}

}  // namespace

TEST(CliRun, TransientExitTwiceThenSuccessExitsZeroAfterThreeRuns) {
  temp_dir dir;
  const fs::path counter = dir / "n";
  const auto r = run_cli({"run", "--json", "--policy", "initial=1ms, jitter=none", "--", "sh", "-c",
                          counting_script(counter, {170, 170, 0}).c_str()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(runs_counted(counter), 3);
  EXPECT_TRUE(has(r.err, "{\"outcome\":\"succeeded\",\"calls\":3,")) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliRun, PermanentExitStopsAtOnceWithItsStatus) {
  temp_dir dir;
  const fs::path counter = dir / "n";
  const auto r = run_cli(
      {"run", "--policy", "initial=1ms", "--", "sh", "-c", counting_script(counter, {5}).c_str()});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(runs_counted(counter), 1);
  EXPECT_TRUE(has(r.err, "ipsec-retry run: permanent_error after 1 run in ")) << r.err;
  EXPECT_TRUE(has(r.err, "; last code 5 ERROR_ACCESS_DENIED\n")) << r.err;
}

TEST(CliRun, AttemptsLimitTheRuns) {
  temp_dir dir;
  const fs::path counter = dir / "n";
  const auto r = run_cli({"run", "--policy", "attempts=2, initial=1ms, jitter=none", "--", "sh",
                          "-c", counting_script(counter, {170}).c_str()});
  EXPECT_EQ(r.exit_code, 170);
  EXPECT_EQ(runs_counted(counter), 2);
  // One line before the wait, one summary.
  EXPECT_TRUE(has(r.err,
                  "ipsec-retry run: run 1: 170 ERROR_BUSY (transient); running again in "
                  "1ms\n"))
      << r.err;
  EXPECT_TRUE(has(r.err, "ipsec-retry run: attempts_exhausted after 2 runs in ")) << r.err;
}

TEST(CliRun, DeadlineEndsUnlimitedAttempts) {
  const auto r = run_cli({"run", "--json", "--policy",
                          "attempts=unlimited, timeout=5ms, initial=1ms, max_delay=1ms, "
                          "jitter=none, at_deadline=give_up",
                          "--", "sh", "-c", "exit 170"});
  EXPECT_EQ(r.exit_code, 170);
  EXPECT_TRUE(has(r.err, "{\"outcome\":\"deadline_exceeded\",")) << r.err;
}

TEST(CliRun, PolicyListsDecideTheVerdict) {
  temp_dir dir;
  const fs::path never = dir / "never";
  auto r = run_cli({"run", "--policy", "initial=1ms, never_retry=170", "--", "sh", "-c",
                    counting_script(never, {170, 0}).c_str()});
  EXPECT_EQ(r.exit_code, 170);
  EXPECT_EQ(runs_counted(never), 1);
  const fs::path retried = dir / "retried";
  r = run_cli({"run", "--policy", "initial=1ms, retry_on=5", "--", "sh", "-c",
               counting_script(retried, {5, 0}).c_str()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(runs_counted(retried), 2);
  // 13025 is a warning: a success that is not retried, and the status is still the run's own
  // (as a POSIX exit status only its low byte survives: 13025 & 0xFF = 225, unknown, permanent).
  r = run_cli({"run", "--policy", "initial=1ms, success_on=5", "--", "sh", "-c", "exit 5"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_TRUE(r.err.empty()) << r.err;  // a success prints nothing
}

TEST(CliRun, CodeFromOutputHresultIsTransientThenSuccess) {
  temp_dir dir;
  const fs::path counter = dir / "n";
  // Run 1 prints an HRESULT and exits 1 (ERROR_INVALID_FUNCTION, permanent by itself); the
  // printed code decides: 0x800732DF is PENDING_DELETION, transient. Run 2 prints nothing that
  // matches and exits 0.
  const std::string script = counting_script(
      counter, {1, 0}, "if [ $n = 1 ]; then echo 'failed: 0x800732DF'; else echo done; fi");
  const auto r = run_cli({"run", "--json", "--policy", "initial=1ms, jitter=none", "--code-from",
                          "failed: (\\S+)", "--", "sh", "-c", script.c_str()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(runs_counted(counter), 2);
  EXPECT_EQ(r.out, "failed: 0x800732DF\ndone\n");  // passed through
  EXPECT_TRUE(has(r.err, "\"calls\":2,")) << r.err;
  EXPECT_TRUE(has(r.err, ",\"code\":13023},")) << r.err;
}

TEST(CliRun, CodeFromReadsStderrAndNamesAndFallsBackToTheStatus) {
  // A symbolic name on stderr; stdout is searched first but has no match.
  auto r = run_cli({"run", "--policy", "attempts=1", "--code-from", "^error (\\w+)$", "--", "sh",
                    "-c", "echo nothing; echo 'error ERROR_ACCESS_DENIED' >&2; exit 0"});
  EXPECT_EQ(r.exit_code, 0);  // the exit status is the run's own
  EXPECT_TRUE(has(r.err, "permanent_error after 1 run")) << r.err;
  EXPECT_TRUE(has(r.err, "last code 5 ERROR_ACCESS_DENIED")) << r.err;
  // A match that is not a code: said so, and the exit status (170, transient) is used.
  r = run_cli({"run", "--json", "--policy", "attempts=2, initial=1ms", "--code-from", "code=(\\S+)",
               "--", "sh", "-c", "echo code=banana; exit 170"});
  EXPECT_EQ(r.exit_code, 170);
  EXPECT_TRUE(has(r.err, "--code-from matched 'banana', which is not a code")) << r.err;
  EXPECT_TRUE(has(r.err, "\"outcome\":\"attempts_exhausted\",\"calls\":2,")) << r.err;
  // A CRLF line: the '\r' is not part of the line, so '$' matches before it.
  r = run_cli({"run", "--policy", "attempts=1", "--code-from", "^rc (\\d+)$", "--", "sh", "-c",
               "printf 'rc 5\\r\\n'"});
  EXPECT_TRUE(has(r.err, "last code 5 ERROR_ACCESS_DENIED")) << r.err;
}

TEST(CliRun, CodeFromPassesOutputThroughByteForByte) {
  // NUL, CR, no final newline, and enough data to take many reads; stderr kept apart.
  std::string expected = std::string("a\0b\r\nc", 6);
  std::string script = "printf 'a\\000b\\r\\nc'; seq 1 40000; printf 'tail'; printf 'e1\\n' >&2";
  for (int i = 1; i <= 40000; ++i) expected += std::to_string(i) + '\n';
  expected += "tail";
  const auto r = run_cli({"run", "--policy", "attempts=1", "--code-from", "(never matches)x", "--",
                          "sh", "-c", script.c_str()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), expected.size());
  EXPECT_TRUE(r.out == expected);
  EXPECT_EQ(r.err, "e1\n");
}

TEST(CliRun, JsonSummaryFields) {
  const auto r = run_cli({"run", "--json", "--policy", "attempts=2, initial=1ms, jitter=none", "--",
                          "sh", "-c", "exit 170"});
  EXPECT_EQ(r.exit_code, 170);
  EXPECT_EQ(r.err.rfind("{\"outcome\":\"attempts_exhausted\",\"calls\":2,\"elapsed_ns\":", 0), 0u)
      << r.err;
  EXPECT_TRUE(has(r.err,
                  ",\"last_code\":170,\"last_code_name\":\"ERROR_BUSY\",\"exit_code\":170,"
                  "\"signal\":null,\"stop_cause\":null,\"policy\":\"attempts=2, "))
      << r.err;
  EXPECT_TRUE(has(r.err, "\"timeline\":[{\"at_ns\":0,\"code\":170},{\"at_ns\":")) << r.err;
  EXPECT_EQ(r.err.back(), '\n');
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1);  // one line: no other message with --json
  EXPECT_TRUE(r.out.empty());
}

TEST(CliRun, KilledBySignalIsAPermanentFailure) {
  const auto r =
      run_cli({"run", "--json", "--policy", "initial=1ms", "--", "sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_TRUE(has(r.err, "ipsec-retry run: 'sh' was killed by signal 9")) << r.err;
  EXPECT_TRUE(has(r.err, "counted as ERROR_PROCESS_ABORTED (1067)")) << r.err;
  EXPECT_TRUE(has(r.err, "{\"outcome\":\"permanent_error\",\"calls\":1,")) << r.err;
  EXPECT_TRUE(has(r.err,
                  "\"last_code\":1067,\"last_code_name\":null,\"exit_code\":null,"
                  "\"signal\":9,"))
      << r.err;
}

// A SIGTERM to ipsec-retry ends the wait at once: the run sends it to its parent (this
// process), ignores the copy passed on to it, and fails transiently; the next run would come
// a minute later.
TEST(CliRun, SigtermEndsTheWaitAsCancelled) {
  const auto r = run_cli({"run", "--json", "--policy", "initial=1min, max_delay=1min, jitter=none",
                          "--", "sh", "-c", "trap '' TERM; kill -TERM $PPID; exit 170"});
  EXPECT_EQ(r.exit_code, 170);
  EXPECT_TRUE(has(r.err, "{\"outcome\":\"cancelled\",\"calls\":1,")) << r.err;
  EXPECT_TRUE(has(r.err, "\"stop_cause\":\"SIGTERM\"")) << r.err;
}

TEST(CliRun, SitePolicyFromConfigAndEnvironment) {
  temp_dir dir;
  const fs::path config = dir / "sites.conf";
  std::ofstream(config) << "qm.delete: attempts=2, initial=1ms, jitter=none\n";
  const fs::path counter = dir / "n";
  auto r = run_cli({"run", "--json", "--site", "qm.delete", "--config", config.string(), "--", "sh",
                    "-c", counting_script(counter, {170}).c_str()});
  EXPECT_EQ(r.exit_code, 170);
  EXPECT_EQ(runs_counted(counter), 2);
  EXPECT_TRUE(has(r.err, "\"policy\":\"attempts=2, ")) << r.err;
  // The environment comes on top of the file.
  ::setenv("IPSEC_RETRY_QM_DELETE", "attempts=3", 1);
  fs::remove(counter);
  r = run_cli({"run", "--site", "qm.delete", "--config", config.string(), "--", "sh", "-c",
               counting_script(counter, {170}).c_str()});
  ::unsetenv("IPSEC_RETRY_QM_DELETE");
  EXPECT_EQ(r.exit_code, 170);
  EXPECT_EQ(runs_counted(counter), 3);
}

#ifdef IPSEC_RETRY_CLI_PATH
// Without --code-from the command writes to ipsec-retry's own stdout: the real program,
// through a pipe (popen), gets exactly its bytes and its exit status.
TEST(CliRun, ProgramPassesInheritedOutputAndExitStatus) {
  const std::string command = std::string("'") + IPSEC_RETRY_CLI_PATH +
                              "' run --policy 'attempts=2, initial=1ms' -- sh -c "
                              "\"printf 'x\\000y\\r\\nz'; exit 170\" 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[256];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(out, std::string("x\0y\r\nzx\0y\r\nz", 12));  // two runs
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 170);
}
#endif

#endif  // _WIN32

#if defined(_WIN32) && defined(IPSEC_RETRY_EXIT_CODES_EXE)

// --- Windows: tests/run_exit_codes, full 32-bit exit codes -----------------------------------

namespace {

std::string exit_codes_exe() {
  std::string path = IPSEC_RETRY_EXIT_CODES_EXE;
  std::replace(path.begin(), path.end(), '/', '\\');
  return path;
}

// `run ARGS... -- exit_codes COUNTER CODES...`
cli_output run_exit_codes(std::vector<std::string> args, const fs::path& counter,
                          const std::vector<std::string>& codes) {
  args.insert(args.begin(), "run");
  args.push_back("--");
  args.push_back(exit_codes_exe());
  args.push_back(counter.string());
  args.insert(args.end(), codes.begin(), codes.end());
  return run_cli(args);
}

}  // namespace

TEST(CliRunWindows, PendingDeletionTwiceThenSuccessExitsZeroAfterThreeRuns) {
  temp_dir dir;
  const fs::path counter = dir / "n";
  const auto r = run_exit_codes({"--json", "--policy", "initial=1ms, jitter=none"}, counter,
                                {"13023", "13023", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(runs_counted(counter), 3);
  EXPECT_TRUE(has(r.err, "{\"outcome\":\"succeeded\",\"calls\":3,")) << r.err;
}

TEST(CliRunWindows, ExitCodeIsTheFull32Bits) {
  temp_dir dir;
  const fs::path counter = dir / "n";
  auto r = run_exit_codes({"--policy", "attempts=2, initial=1ms"}, counter, {"13023"});
  EXPECT_EQ(r.exit_code, 13023);
  EXPECT_EQ(runs_counted(counter), 2);
  EXPECT_TRUE(has(r.err, "attempts_exhausted after 2 runs")) << r.err;
  // An HRESULT exit code: normalized for the classifier (transient), passed on unchanged.
  const fs::path hresult = dir / "h";
  r = run_exit_codes({"--json", "--policy", "attempts=2, initial=1ms"}, hresult, {"0x800732DF"});
  EXPECT_EQ(static_cast<std::uint32_t>(r.exit_code), 0x800732DFu);
  EXPECT_EQ(runs_counted(hresult), 2);
  EXPECT_TRUE(has(r.err,
                  "\"last_code\":13023,\"last_code_name\":"
                  "\"ERROR_IPSEC_QM_POLICY_PENDING_DELETION\",\"exit_code\":2147955423,"))
      << r.err;
}

TEST(CliRunWindows, CodeFromPipesTheOutputThrough) {
  temp_dir dir;
  const fs::path counter = dir / "n";
  // Exit 1 (permanent by itself); the printed code, 170 on run 1, is transient.
  const auto r = run_exit_codes({"--policy", "initial=1ms", "--code-from", "^run 1 exits (\\d+)$"},
                                counter, {"170", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "run 1 exits 170\nrun 2 exits 0\n");
  EXPECT_EQ(runs_counted(counter), 2);
}

TEST(CliRunWindows, ArgumentsReachTheProgramUnchanged) {
  const std::vector<std::string> tricky = {"",       "a b",       "x\\",    "q\"",
                                           "a\\\"b", "C:\\p q\\", "\t tab", "\xC3\xA9t\xC3\xA9"};
  std::vector<std::string> args = {"run",       "--policy", "attempts=1",     "--code-from",
                                   "^(never)$", "--",       exit_codes_exe(), "--print-args"};
  args.insert(args.end(), tricky.begin(), tricky.end());
  const auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string expected;
  for (const std::string& a : tricky) expected += a + '\n';
  EXPECT_EQ(r.out, expected);
}

TEST(CliRunWindows, ProgramNotFoundIsBadInput) {
  const auto r = run_cli({"run", "--policy", "attempts=3", "--", "ipsec-retry-no-such-program"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "cannot run 'ipsec-retry-no-such-program': ")) << r.err;
  EXPECT_TRUE(has(r.err, "(not found on PATH)")) << r.err;
}

#endif  // _WIN32 && IPSEC_RETRY_EXIT_CODES_EXE
