// SPDX-License-Identifier: BSL-1.0
// `ipsec-retry sites` (docs/cli.md, "sites"), driven in-process through cli::run: the effective
// policy, budget and breaker of every site and where each came from, a configuration file
// validated before deployment, and warnings for IPSEC_RETRY_* variables nothing reads.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_runner.hpp"

namespace {

namespace fs = std::filesystem;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Sets one environment variable for a test's lifetime.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) { set(value); }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env() { set(nullptr); }

 private:
  void set(const char* value) {
#if defined(_WIN32)
    _putenv_s(name_.c_str(), value != nullptr ? value : "");
#else
    if (value != nullptr) {
      setenv(name_.c_str(), value, 1);
    } else {
      unsetenv(name_.c_str());
    }
#endif
  }
  std::string name_;
};

// A configuration file in a fresh directory, removed afterwards.
class config_file {
 public:
  explicit config_file(const std::string& text) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ipsec_retry_cli_sites_" + std::string(info->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(path()) << text;
  }
  config_file(const config_file&) = delete;
  config_file& operator=(const config_file&) = delete;
  ~config_file() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string path() const { return (dir_ / "ipsec_retry.conf").string(); }

 private:
  fs::path dir_;
};

// The table line of one site ("NAME  BUDGET  BREAKER  SOURCE") and its policy line under it.
std::string site_line(const std::string& table, const std::string& site) {
  const auto at = table.find("\n" + site + " ");
  if (at == std::string::npos) return {};
  const auto end = table.find('\n', table.find('\n', at + 1) + 1);
  return table.substr(at + 1, end - at - 1);
}

}  // namespace

TEST(CliSites, DefaultsShowEveryBuiltInSiteFromDefault) {
  const auto r = run_cli({"sites", "--no-env"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("SITE ", 0), 0u) << r.out;
  for (const char* site : {"qm.add", "qm.delete", "mm_auth.set", "tunnel_filter.close"}) {
    const std::string line = site_line(r.out, site);
    EXPECT_TRUE(has(line, " none ")) << site << ": " << line;
    EXPECT_TRUE(has(line, " default\n    attempts=")) << site << ": " << line;
  }
  // qm.delete's built-in default waits longer than qm.add's (deletions are the slow ones).
  EXPECT_TRUE(has(site_line(r.out, "qm.delete"), "timeout=1min")) << r.out;
  EXPECT_TRUE(has(site_line(r.out, "qm.add"), "timeout=30s")) << r.out;
  EXPECT_TRUE(has(r.out, "\n(no budgets)\n")) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliSites, AFileLineIsShownAsFileColonLine) {
  const config_file file(
      "# fleet limits\n"
      "budget agent: max_tokens=20\n"
      "qm.delete: timeout=90s, budget=agent\n");
  const auto r = run_cli({"sites", "--no-env", "--config", file.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string line = site_line(r.out, "qm.delete");
  EXPECT_TRUE(has(line, " agent ")) << line;
  EXPECT_TRUE(has(line, file.path() + ":3\n")) << line;
  EXPECT_TRUE(has(line, "timeout=90s, ")) << line;
  EXPECT_TRUE(has(site_line(r.out, "qm.add"), " default\n")) << r.out;  // untouched sites
  EXPECT_TRUE(has(r.out, "\nagent    " + file.path() + ":2  max_tokens=20")) << r.out;
}

TEST(CliSites, TheEnvironmentWinsOverTheFileAndBothAreListed) {
  const config_file file("qm.delete: timeout=90s\n");
  const scoped_env env("IPSEC_RETRY_QM_DELETE", "timeout=5s");
  const auto r = run_cli({"sites", "--config", file.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string line = site_line(r.out, "qm.delete");
  EXPECT_TRUE(has(line, file.path() + ":1, IPSEC_RETRY_QM_DELETE\n")) << line;
  EXPECT_TRUE(has(line, "timeout=5s")) << line;

  // --no-env: the variable is not read, the file's value stands.
  const auto no_env = run_cli({"sites", "--no-env", "--config", file.path()});
  ASSERT_EQ(no_env.exit_code, 0) << no_env.err;
  EXPECT_FALSE(has(no_env.out, "IPSEC_RETRY_QM_DELETE")) << no_env.out;
  EXPECT_TRUE(has(site_line(no_env.out, "qm.delete"), file.path() + ":1\n")) << no_env.out;
}

TEST(CliSites, ABadLineIsExitTwoNamingTheFileLineSiteAndColumn) {
  const config_file file("qm.add: timeout=10s\nqm.delete: timeout=5\n");
  const auto r = run_cli({"sites", "--no-env", "--config", file.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;  // all or nothing: no table of a half-loaded file
  EXPECT_TRUE(has(r.err, "ipsec-retry sites: " + file.path() +
                             ":2 (qm.delete): column 20: bad value '5' for 'timeout'"))
      << r.err;

  const config_file unknown_key("qm.delete: timeuot=5s\n");
  const auto key = run_cli({"sites", "--no-env", "--config", unknown_key.path()});
  EXPECT_EQ(key.exit_code, 2);
  EXPECT_TRUE(has(key.err, "timeuot")) << key.err;
}

TEST(CliSites, AnUnreadableFileIsExitTwoNamingIt) {
  const auto r = run_cli({"sites", "--config", "/nonexistent/ipsec_retry.conf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "ipsec-retry sites: cannot read --config '/nonexistent/ipsec_retry.conf'"))
      << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliSites, ABadVariableIsExitTwoNamingIt) {
  const scoped_env env("IPSEC_RETRY_QM_ADD", "attempts=0");
  const auto r = run_cli({"sites"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "IPSEC_RETRY_QM_ADD")) << r.err;
  EXPECT_TRUE(run_cli({"sites", "--no-env"}).exit_code == 0);
}

TEST(CliSites, AMisspeltVariableIsAWarningWithTheNearestName) {
  const scoped_env env("IPSEC_RETRY_QM_DELET", "timeout=5s");
  const auto r = run_cli({"sites"});
  ASSERT_EQ(r.exit_code, 0) << r.err;  // a warning, not an error: the host still runs
  EXPECT_TRUE(has(r.err,
                  "ipsec-retry sites: warning: environment variable IPSEC_RETRY_QM_DELET names no "
                  "call site, budget or breaker; ignored (did you mean IPSEC_RETRY_QM_DELETE?)"))
      << r.err;
  EXPECT_TRUE(has(site_line(r.out, "qm.delete"), " default\n")) << r.out;  // not applied
  // --no-env reads no variable, so it warns about none.
  EXPECT_TRUE(run_cli({"sites", "--no-env"}).err.empty());
}

TEST(CliSites, JsonListsSitesBudgetsAndBreakersWithTheirSources) {
  const config_file file(
      "breaker agent: failure_threshold=3\n"
      "qm.delete: timeout=90s, breaker=agent\n");
  const scoped_env env("IPSEC_RETRY_QM_DELETE", "initial=10ms");
  const auto r = run_cli({"sites", "--json", "--config", file.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The path as a JSON string holds it (a Windows path's backslashes doubled).
  std::string path_in_json;
  for (char c : file.path()) path_in_json += c == '\\' ? std::string("\\\\") : std::string(1, c);
  EXPECT_EQ(r.out.rfind("{\"sites\":[{\"name\":\"mm.add\",", 0), 0u) << r.out;
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_TRUE(has(r.out,
                  "\"budget\":null,\"breaker\":\"agent\",\"source\":\"IPSEC_RETRY_QM_DELETE\","
                  "\"sources\":[\"" +
                      path_in_json + ":2\",\"IPSEC_RETRY_QM_DELETE\"]}"))
      << r.out;
  EXPECT_TRUE(has(r.out, "\"name\":\"qm.add\",\"policy\":\"attempts=unlimited, timeout=30s,"))
      << r.out;
  EXPECT_TRUE(has(r.out, "\"source\":\"default\",\"sources\":[]")) << r.out;
  EXPECT_TRUE(has(r.out,
                  "\"budgets\":[],\"breakers\":[{\"name\":\"agent\",\"settings\":"
                  "\"failure_threshold=3, cool_down=30s\",\"source\":\"" +
                      path_in_json + ":1\""))
      << r.out;
}

TEST(CliSites, HelpNamesThePrecedenceAndExitStatus) {
  const auto r = run_cli({"sites", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has(r.out, "Precedence, lowest first: default, --config, environment, HKCU, HKLM"))
      << r.out;
  EXPECT_TRUE(has(r.out, "Exit status: 0 success, 2 ")) << r.out;
}
