// The `herald` command as a user meets it (docs/reference.md section 3): the real binary runs as a child
// process with a controlled environment, and every test checks the exit code and exactly what
// went to stdout and stderr. Exit codes: 0 ok, 1 a driver failed at run time, 2 usage or config.
#include <filesystem>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <herald/driver.h>

#include "cli_test_support.hpp"
#include "test_files.hpp"

namespace herald::cli_test {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;
using testing_support::copy_to;
using testing_support::read_file;
using testing_support::split_lines;
using testing_support::TempDir;
using testing_support::write_file;

using Env = std::vector<std::pair<std::string, std::string>>;

const fs::path kHerald = HERALD_TEST_BINARY;
const fs::path kPluginDir = HERALD_TEST_PLUGIN_DIR;
const fs::path kFixtureDir = HERALD_TEST_FIXTURE_DIR;
// The driver ABI this host and its in-tree plugins are built for, as `herald drivers` shows it.
const std::string kAbi = std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR);
const fs::path kSourceDir = HERALD_TEST_SOURCE_DIR;

// herald always searches <exe>/../lib/herald/plugins last; in the build tree that is
// kPluginDir, spelled as the binary sees itself (/proc/self/exe, symlinks resolved).
fs::path BuiltinPluginDir() { return fs::weakly_canonical(kPluginDir); }

std::string LogLine(const std::string& topics, const std::string& message) {
  return "Broadcasting on channels [" + topics + "] with payload: " + message;
}


// The process ended on its own, with `code`.
void ExpectExit(const ProcessResult& r, int code) {
  EXPECT_FALSE(r.timed_out) << Describe(r);
  EXPECT_EQ(r.term_signal, 0) << Describe(r);
  EXPECT_EQ(r.exit_code, code) << Describe(r);
}

// Exit `code`, nothing on stdout, and exactly "herald: <message>" as the one stderr line.
void ExpectError(const ProcessResult& r, int code, const std::string& message) {
  ExpectExit(r, code);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "herald: " + message + "\n");
}

// Exit `code`, nothing on stdout, one stderr line starting "herald: " that `matcher` accepts.
template <typename Matcher>
void ExpectErrorThat(const ProcessResult& r, int code, const Matcher& matcher) {
  ExpectExit(r, code);
  EXPECT_EQ(r.out, "");
  const auto lines = split_lines(r.err);
  ASSERT_THAT(lines, SizeIs(1)) << Describe(r);
  EXPECT_THAT(r.err, EndsWith("\n"));
  EXPECT_THAT(lines[0], AllOf(StartsWith("herald: "), matcher));
  EXPECT_THAT(r.err, Not(HasSubstr("terminate called")));
}


// A config whose `log` (default) and `null` connections use the built-in plugins.
constexpr const char* kGoodConfig = R"(default = "log"
plugin_dirs = ["plugins"]

[aliases]
events = "log"

[connections.log]
driver = "log"
level = "info"

[connections.null]
driver = "null"
)";

class CliTest : public ::testing::Test {
 protected:
  // Writes `toml` into this test's directory and returns its absolute path.
  fs::path WriteConfig(std::string_view toml, const std::string& name = "broadcasting.toml") {
    const fs::path path = dir_ / name;
    write_file(path, toml);
    return path;
  }

  // Copies `plugin` into `to` (created when missing); returns the copy's path.
  fs::path CopyPlugin(const fs::path& plugin, const fs::path& to) {
    return copy_to(plugin, to / plugin.filename());
  }

  // Runs herald in this test's directory (so no ./config/broadcasting.toml of the caller is
  // found), with only PATH and `env` in its environment.
  ProcessResult Herald(const std::vector<std::string>& args, Env env = {},
                       std::string stdin_text = "") {
    RunOptions options;
    options.env = std::move(env);
    options.stdin_text = std::move(stdin_text);
    options.cwd = dir_.path();
    return RunProcess(kHerald, args, options);
  }

  // `herald check` and `herald publish order.1 -m hi` on `config` both exit 2 with one
  // stderr line that `matcher` accepts (it sees the whole line, "herald: " included).
  template <typename Matcher>
  void ExpectConfigErrorThatEverywhere(const fs::path& config, const Matcher& matcher) {
    {
      SCOPED_TRACE("herald check");
      ExpectErrorThat(Herald({"--config", config.string(), "check"}), 2, matcher);
    }
    {
      SCOPED_TRACE("herald publish");
      ExpectErrorThat(Herald({"--config", config.string(), "publish", "order.1", "-m", "hi"}), 2,
                      matcher);
    }
  }

  // The same with exactly "herald: <message>".
  void ExpectConfigErrorEverywhere(const fs::path& config, const std::string& message) {
    ExpectConfigErrorThatEverywhere(config, ::testing::Eq("herald: " + message));
  }

  TempDir dir_;
};

// ---------------------------------------------------------------------------------------------
// Bad configurations: `check` and `publish` report the same one line and exit 2.

class CliConfigError : public CliTest {};

TEST_F(CliConfigError, MissingConfigFile) {
  const fs::path missing = dir_ / "absent.toml";
  ExpectConfigErrorEverywhere(
      missing, missing.string() + ": cannot read config file: No such file or directory");
}

TEST_F(CliConfigError, ConfigPathIsADirectory) {
  ExpectConfigErrorEverywhere(dir_.path(),
                              dir_.path().string() + ": cannot read config file: Is a directory");
}

TEST_F(CliConfigError, TomlSyntaxErrorNamesFileLineAndColumn) {
  const fs::path config = WriteConfig(R"(default = "log"

[connections.log]
driver = = "log"
)");
  // The description after the prefix is toml++'s own wording.
  ExpectConfigErrorThatEverywhere(
      config, StartsWith("herald: " + config.string() + ":4:10: TOML syntax error: "));
}

TEST_F(CliConfigError, DefaultConnectionNotDefined) {
  const fs::path config = WriteConfig(R"(default = "nope"

[connections.log]
driver = "log"
)");
  // Both the default of `check` and the implicit connection of `publish` are `nope`.
  ExpectConfigErrorEverywhere(config,
                              config.string() + ": Config for connection `nope` is not defined.");
}

TEST_F(CliConfigError, PublishToUnknownConnection) {
  const fs::path config = WriteConfig(kGoodConfig);
  ExpectError(Herald({"--config", config.string(), "publish", "-c", "nope", "order.1", "-m", "hi"}),
              2, config.string() + ": Config for connection `nope` is not defined.");
}

TEST_F(CliConfigError, DriverIsNotAString) {
  const fs::path config = WriteConfig(R"(default = "broken"

[connections.broken]
driver = 42
)");
  ExpectConfigErrorEverywhere(
      config, config.string() + ":4:10: Driver value for `broken` connection must be a string");
}

TEST_F(CliConfigError, DriverIsMissing) {
  const fs::path config = WriteConfig(R"(default = "broken"

[connections.broken]
level = "info"
)");
  // The position is the connection's table header.
  ExpectConfigErrorEverywhere(
      config, config.string() + ":3:1: Driver for `broken` connection is not defined.");
}

TEST_F(CliConfigError, UnknownDriverName) {
  const fs::path config = WriteConfig(R"(default = "broken"
plugin_dirs = ["plugins"]

[connections.broken]
driver = "warp-drive"
)");
  ExpectConfigErrorEverywhere(
      config, config.string() +
                  ":5:10: driver `warp-drive` of connection `broken` is not available: no plugin "
                  "in [" +
                  (dir_ / "plugins").string() + ", " + BuiltinPluginDir().string() +
                  "] declares it (see `herald drivers`)");
}

TEST_F(CliConfigError, DriverAliasToMissingSharedObject) {
  const fs::path config = WriteConfig(R"(default = "broken"

[connections.broken]
driver = "acme"

[driverAliases]
acme = "lib/missing.so"
)");
  // Relative to the config file; the position is the alias that named the file.
  ExpectConfigErrorEverywhere(config, config.string() +
                                          ":7:8: " + (dir_ / "lib/missing.so").string() +
                                          ": cannot be opened: no such file");
}

TEST_F(CliConfigError, DriverAliasToPluginOfAnotherAbiMajor) {
  const fs::path plugin = kFixtureDir / "herald_fixture_wrong_major.so";
  const fs::path config = WriteConfig(R"(default = "broken"

[connections.broken]
driver = "acme"

[driverAliases]
acme = ")" + plugin.string() + "\"\n");
  const std::string prefix = "herald: " + config.string() + ":7:8: " + plugin.string() + ": ";
  // Only the start and the advice are pinned: the supported range grows with each minor.
  ExpectConfigErrorThatEverywhere(
      config, AllOf(StartsWith(prefix + "built for driver ABI 2.0, this herald supports ABI 1.0 to " +
                               kAbi),
                    EndsWith("; rebuild the plugin against Herald SDK 1.x")));
}

TEST_F(CliConfigError, UndefinedEnvironmentVariable) {
  const fs::path config = WriteConfig(R"(default = "log"

[connections.log]
driver = "log"
pattern = "${HERALD_CLI_TEST_UNSET}"
)");
  ExpectConfigErrorEverywhere(
      config, config.string() +
                  ":5:11: environment variable `HERALD_CLI_TEST_UNSET` is not set (write "
                  "${HERALD_CLI_TEST_UNSET:-default} to give a default)");
}

TEST_F(CliConfigError, NoConfigFileAnywhere) {
  // The test directory has no config/broadcasting.toml and the env names none.
  ExpectErrorThat(Herald({"publish", "order.1", "-m", "hi"}), 2,
                  AllOf(StartsWith("herald: no configuration file found (tried "
                                   "config/broadcasting.toml, "),
                        EndsWith("/etc/herald/broadcasting.toml); pass --config PATH or set "
                                 "HERALD_CONFIG")));
}

// ---------------------------------------------------------------------------------------------
// publish

class CliPublish : public CliTest {};

TEST_F(CliPublish, ShippedConfigLogsThroughTheLogConnection) {
  const fs::path shipped = kSourceDir / "config/broadcasting.toml";
  ASSERT_TRUE(fs::is_regular_file(shipped)) << shipped;
  const ProcessResult r =
      Herald({"publish", "order.1", "-m", R"({"status":"purchased"})", "--config", shipped.string(),
              "--plugin-dir", kPluginDir.string()},
             {{"BROADCAST_CONNECTION", "log"}, {"HERALD_APP_SECRET", "s"}, {"HERALD_JWT_SECRET", "jwt-secret-of-at-least-32-bytes-0123"}});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out),
              ElementsAre(EndsWith(LogLine("order.1", R"({"status":"purchased"})"))));
  EXPECT_EQ(r.err, "");
}

TEST_F(CliPublish, LogLineCarriesTimestampAndLevel) {
  const fs::path config = WriteConfig(kGoodConfig);
  const ProcessResult r = Herald({"--config", config.string(), "publish", "a", "-m", "x"});
  ExpectExit(r, 0);
  const auto lines = split_lines(r.out);
  ASSERT_THAT(lines, SizeIs(1)) << Describe(r);
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[info\] )" +
                           std::string(R"(Broadcasting on channels \[a\] with payload: x)"))))
      << lines[0];
}

TEST_F(CliPublish, TwoTopicsAndTwoMessages) {
  const fs::path config = WriteConfig(kGoodConfig);
  const ProcessResult r =
      Herald({"--config", config.string(), "publish", "a", "b", "-m", "one", "-m", "two"});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out),
              ElementsAre(EndsWith(LogLine("a, b", "one")), EndsWith(LogLine("a, b", "two"))));
  EXPECT_EQ(r.err, "");
}

TEST_F(CliPublish, MessagesFromStdinOnePerLine) {
  const fs::path config = WriteConfig(kGoodConfig);
  const ProcessResult r = Herald({"--config", config.string(), "publish", "news"}, {},
                                 "first\n{\"n\": 2}\nthird with  spaces\n");
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out), ElementsAre(EndsWith(LogLine("news", "first")),
                                              EndsWith(LogLine("news", R"({"n": 2})")),
                                              EndsWith(LogLine("news", "third with  spaces"))));
  EXPECT_EQ(r.err, "");
}

TEST_F(CliPublish, StdinLastLineWithoutNewlineCounts) {
  const fs::path config = WriteConfig(kGoodConfig);
  const ProcessResult r = Herald({"--config", config.string(), "publish", "news"}, {}, "a\nb");
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out),
              ElementsAre(EndsWith(LogLine("news", "a")), EndsWith(LogLine("news", "b"))));
}

TEST_F(CliPublish, BlankStdinLinesAreSkipped) {
  const fs::path config = WriteConfig(kGoodConfig);
  const ProcessResult r =
      Herald({"--config", config.string(), "publish", "news"}, {}, "a\n\n  \nb\n");
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out),
              ElementsAre(EndsWith(LogLine("news", "a")), EndsWith(LogLine("news", "b"))));
}

TEST_F(CliPublish, EmptyTopicIsAUsageError) {
  const fs::path config = WriteConfig(kGoodConfig);
  ExpectError(Herald({"--config", config.string(), "publish", "", "-m", "x"}), 2,
              "a TOPIC must not be empty");
}

TEST_F(CliPublish, UsageErrorsComeBeforeTheConfigIsLookedFor) {
  // No config anywhere (the child runs in the empty temp dir): the usage error still wins.
  ExpectError(Herald({"publish", "-m", "hi"}), 2,
              "publish needs at least one TOPIC (see herald --help)");
}

TEST_F(CliPublish, NullConnectionPrintsNothing) {
  const fs::path config = WriteConfig(kGoodConfig);
  const ProcessResult r =
      Herald({"--config", config.string(), "publish", "-c", "null", "order.1", "-m", "hi"});
  ExpectExit(r, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliPublish, ConnectionAliasIsFollowed) {
  const fs::path config = WriteConfig(kGoodConfig);
  const ProcessResult r =
      Herald({"--config", config.string(), "publish", "-c", "events", "t", "-m", "via alias"});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out), ElementsAre(EndsWith(LogLine("t", "via alias"))));
}

TEST_F(CliPublish, WithoutTopicIsAUsageError) {
  const fs::path config = WriteConfig(kGoodConfig);
  ExpectError(Herald({"--config", config.string(), "publish"}), 2,
              "publish needs at least one TOPIC (see herald --help)");
  ExpectError(Herald({"--config", config.string(), "publish", "-m", "hi"}), 2,
              "publish needs at least one TOPIC (see herald --help)");
}

TEST_F(CliPublish, RecorderReceivesTopicsAndMessages) {
  CopyPlugin(kFixtureDir / "herald_fixture_recorder.so", dir_ / "plugins");
  const fs::path config = WriteConfig(R"(default = "rec"
plugin_dirs = ["plugins"]

[connections.rec]
driver = "recorder"
path = "records.txt"
)");
  const ProcessResult r = Herald({"--config", config.string(), "publish", "order.1", "order.2",
                                  "-m", "hello", "-m", R"({"a":1})"});
  ExpectExit(r, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(read_file(dir_ / "records.txt"), "order.1,order.2|hello\norder.1,order.2|{\"a\":1}\n");
}

TEST_F(CliPublish, EnvironmentVariablesAreExpandedInSettings) {
  CopyPlugin(kFixtureDir / "herald_fixture_recorder.so", dir_ / "plugins");
  const fs::path config = WriteConfig(R"(default = "rec"
plugin_dirs = ["plugins"]

[connections.rec]
driver = "recorder"
path = "${RECORD_FILE}"
)");
  const fs::path records = dir_ / "from-env.txt";
  const ProcessResult r = Herald({"--config", config.string(), "publish", "t", "-m", "m"},
                                 {{"RECORD_FILE", records.string()}});
  ExpectExit(r, 0);
  EXPECT_EQ(read_file(records), "t|m\n");
}

TEST_F(CliPublish, DriverThatFailsToPublishExitsOne) {
  CopyPlugin(kFixtureDir / "herald_fixture_publish_throws.so", dir_ / "plugins");
  const fs::path config = WriteConfig(R"(default = "flaky"
plugin_dirs = ["plugins"]

[connections.flaky]
driver = "publish-throws"
)");
  ExpectError(Herald({"--config", config.string(), "publish", "t", "-m", "m"}), 1,
              "connection `flaky` (driver `publish-throws`): publish failed: peer said no");
}

TEST_F(CliPublish, DriverThatFailsToStartExitsOne) {
  CopyPlugin(kFixtureDir / "herald_fixture_create_throws.so", dir_ / "plugins");
  const fs::path config = WriteConfig(R"(default = "down"
plugin_dirs = ["plugins"]

[connections.down]
driver = "create-throws"
)");
  // A backend that cannot be reached is a run-time failure, not a configuration error; the
  // position still points the user at the connection.
  ExpectError(Herald({"--config", config.string(), "publish", "t", "-m", "m"}), 1,
              config.string() +
                  ":4:1: connection `down` (driver `create-throws`): cannot start: backend "
                  "unreachable");
  // `check` validates settings but starts no driver, so it cannot see this.
  const ProcessResult check = Herald({"--config", config.string(), "check"});
  ExpectExit(check, 0);
  EXPECT_EQ(check.out, config.string() + ": OK (1 connection, default `down`, 0 topic rules; checked [server], "
                       "[connections.down], [topics])\n");
}

// ---------------------------------------------------------------------------------------------
// drivers

class CliDrivers : public CliTest {};

TEST_F(CliDrivers, ListsEveryPluginWithVersionAbiCapabilitiesAndPath) {
  const fs::path plugins = dir_ / "plugins";
  const fs::path log = CopyPlugin(kPluginDir / "herald_log.so", plugins);
  const fs::path null = CopyPlugin(kPluginDir / "herald_null.so", plugins);
  const fs::path recorder = CopyPlugin(kFixtureDir / "herald_fixture_recorder.so", plugins);
  const fs::path config = WriteConfig("");
  const ProcessResult r =
      Herald({"--config", config.string(), "--plugin-dir", plugins.string(), "drivers"});
  ExpectExit(r, 0);
  const auto lines = split_lines(r.out);
  ASSERT_THAT(lines, SizeIs(Ge(4u))) << Describe(r);
  EXPECT_THAT(Columns(lines[0]), ElementsAre("NAME", "VERSION", "ABI", "CAPABILITIES", "PATH"));
  // The other built-in drivers follow, from the built-in directory.
  for (size_t i = 4; i < lines.size(); ++i)
    EXPECT_THAT(Columns(lines[i]).back(), StartsWith(BuiltinPluginDir().string())) << lines[i];
  // --plugin-dir comes first; within a directory, files in name order.
  EXPECT_THAT(Columns(lines[1]),
              ElementsAre("recorder", "2.3.4", kAbi, "publish", recorder.string()));
  EXPECT_THAT(Columns(lines[2]), ElementsAre("log", "1.0.0", kAbi, "publish", log.string()));
  EXPECT_THAT(Columns(lines[3]), ElementsAre("null", "1.0.0", kAbi, "publish", null.string()));
  // The copies hide the built-in log and null plugins, which is worth a note.
  const fs::path builtin = BuiltinPluginDir();
  EXPECT_THAT(split_lines(r.err),
              ElementsAre("herald: note: " + (builtin / "herald_log.so").string() +
                              ": driver `log` is shadowed by " + log.string(),
                          "herald: note: " + (builtin / "herald_null.so").string() +
                              ": driver `null` is shadowed by " + null.string()));
}

TEST_F(CliDrivers, BrokenPluginIsSkippedWithOneLineAndTheOthersStillListed) {
  const fs::path plugins = dir_ / "plugins";
  const fs::path recorder = CopyPlugin(kFixtureDir / "herald_fixture_recorder.so", plugins);
  const fs::path wrong_major = CopyPlugin(kFixtureDir / "herald_fixture_wrong_major.so", plugins);
  const fs::path junk = plugins / "junk.so";
  write_file(junk, "this is not an ELF file\n");
  const fs::path config = WriteConfig("plugin_dirs = [\"plugins\"]\n");
  const ProcessResult r = Herald({"--config", config.string(), "drivers"});
  ExpectExit(r, 0);
  const fs::path builtin = BuiltinPluginDir();
  const auto lines = split_lines(r.out);
  ASSERT_THAT(lines, SizeIs(Ge(4u))) << Describe(r);
  EXPECT_THAT(Columns(lines[1]),
              ElementsAre("recorder", "2.3.4", kAbi, "publish", recorder.string()));
  // Then the built-in directory, in file name order (other built-in drivers in between).
  std::vector<std::vector<std::string>> builtin_rows;
  for (size_t i = 2; i < lines.size(); ++i) {
    auto columns = Columns(lines[i]);
    if (columns[0] == "log" || columns[0] == "null") builtin_rows.push_back(columns);
  }
  EXPECT_THAT(builtin_rows,
              ElementsAre(ElementsAre("log", "1.0.0", kAbi, "publish",
                                      (builtin / "herald_log.so").string()),
                          ElementsAre("null", "1.0.0", kAbi, "publish",
                                      (builtin / "herald_null.so").string())));
  EXPECT_THAT(
      split_lines(r.err),
      ElementsAre(AllOf(StartsWith("herald: skipped " + wrong_major.string() +
                                   ": built for driver ABI 2.0, this herald supports ABI 1.0 to " +
                                   kAbi),
                        HasSubstr("rebuild the plugin against Herald SDK 1.x")),
                  "herald: skipped " + junk.string() +
                      ": cannot be opened: not a shared library for this platform"));
}

TEST_F(CliDrivers, HeraldPluginPathAddsADirectory) {
  const fs::path extra = dir_ / "extra";
  const fs::path recorder = CopyPlugin(kFixtureDir / "herald_fixture_recorder.so", extra);
  const fs::path config = WriteConfig("");
  const ProcessResult r =
      Herald({"--config", config.string(), "drivers"},
             {{"HERALD_PLUGIN_PATH", (dir_ / "nowhere").string() + ":" + extra.string()}});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out), ::testing::Contains(AllOf(StartsWith("recorder "),
                                                            EndsWith(" " + recorder.string()))));
  EXPECT_EQ(r.err, "");
}

TEST_F(CliDrivers, WorksWithoutAConfigFile) {
  const fs::path recorder =
      CopyPlugin(kFixtureDir / "herald_fixture_recorder.so", dir_ / "only-here");
  const ProcessResult r = Herald({"drivers", "--plugin-dir", (dir_ / "only-here").string()});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out), ::testing::Contains(AllOf(StartsWith("recorder "),
                                                            EndsWith(" " + recorder.string()))));
}

TEST_F(CliDrivers, TakesNoArguments) {
  const fs::path config = WriteConfig("");
  ExpectError(Herald({"--config", config.string(), "drivers", "log"}), 2,
              "`drivers` takes no arguments, got `log` (see herald --help)");
}

// ---------------------------------------------------------------------------------------------
// check

class CliCheck : public CliTest {};

TEST_F(CliCheck, GoodConfigIsOk) {
  CopyPlugin(kFixtureDir / "herald_fixture_recorder.so", dir_ / "plugins");
  const fs::path config = WriteConfig(std::string(kGoodConfig) + R"(
[connections.rec]
driver = "recorder"
path = "records.txt"

[[authorize.topics]]
pattern = "order.{id}"
rule = { allow = true }
)");
  const ProcessResult r = Herald({"--config", config.string(), "check"});
  ExpectExit(r, 0);
  // It names every section it checked, [server] included (what `serve` would refuse).
  EXPECT_EQ(r.out, config.string() +
                       ": OK (3 connections, default `log`, 1 topic rule; checked [server], "
                       "[connections.log], [connections.null], [connections.rec], [topics])\n");
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(fs::exists(dir_ / "records.txt")) << "check must not start drivers";
}

// What `serve` refuses, `check` refuses too: the shipped config's listen comes from
// ${HERALD_LISTEN:-...}, and a value without a port is a configuration error (exit 2).
TEST_F(CliCheck, ABadServerListenFromTheEnvironmentIsRefusedAsServeWould) {
  const fs::path shipped = kSourceDir / "config/broadcasting.toml";
  const std::vector<std::pair<std::string, std::string>> env{
      {"HERALD_APP_SECRET", "s"}, {"HERALD_JWT_SECRET", "jwt-secret-of-at-least-32-bytes-0123"}, {"HERALD_LISTEN", "nonsense"}};
  const ProcessResult check = Herald({"--config", shipped.string(), "check"}, env);
  ExpectErrorThat(check, 2, HasSubstr("`server.listen` `nonsense` has no port"));
  const ProcessResult serve = Herald({"--config", shipped.string(), "serve"}, env);
  ExpectErrorThat(serve, 2, HasSubstr("`server.listen` `nonsense` has no port"));
}

TEST_F(CliCheck, ShippedConfigIsOk) {
  const fs::path shipped = kSourceDir / "config/broadcasting.toml";
  // Its secrets come from the environment (scripts/run.sh generates them into herald.env).
  const ProcessResult r = Herald({"--config", shipped.string(), "check"},
                                 {{"HERALD_APP_SECRET", "s"}, {"HERALD_JWT_SECRET", "jwt-secret-of-at-least-32-bytes-0123"}});
  ExpectExit(r, 0);
  EXPECT_THAT(r.out, AllOf(StartsWith(shipped.string() + ": OK ("), EndsWith(")\n")));
  EXPECT_THAT(split_lines(r.out), SizeIs(1));
  EXPECT_EQ(r.err, "");
}

TEST_F(CliCheck, ReportsEveryBrokenConnectionOnItsOwnLine) {
  const fs::path config = WriteConfig(R"(default = "log"

[connections.log]
driver = "log"

[connections.numeric]
driver = 7

[connections.missing]
driver = "warp-drive"
)");
  const ProcessResult r = Herald({"--config", config.string(), "check"});
  ExpectExit(r, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(
      split_lines(r.err),
      ElementsAre("herald: " + config.string() +
                      ":7:10: Driver value for `numeric` connection must be a string",
                  "herald: " + config.string() +
                      ":10:10: driver `warp-drive` of connection `missing` is not available: "
                      "no plugin in [" +
                      BuiltinPluginDir().string() + "] declares it (see `herald drivers`)"));
}

TEST_F(CliCheck, RejectsSettingsTheDriverValidates) {
  const fs::path config = WriteConfig(R"(default = "log"

[connections.log]
driver = "log"
sink = "carrier-pigeon"
)");
  ExpectErrorThat(
      Herald({"--config", config.string(), "check"}), 2,
      AllOf(StartsWith("herald: " + config.string() + ":3:"),
            HasSubstr("connection `log` (driver `log`): "), HasSubstr("carrier-pigeon")));
}

// ---------------------------------------------------------------------------------------------
// Options, environment and usage errors

class CliOptions : public CliTest {};

TEST_F(CliOptions, VersionNamesTheDriverAbi) {
  const ProcessResult r = Herald({"--version"});
  ExpectExit(r, 0);
  EXPECT_TRUE(std::regex_match(
      r.out, std::regex(R"(herald \d+\.\d+\.\d+ \(driver ABI )" + std::to_string(HERALD_ABI_MAJOR) +
                        R"(\.)" + std::to_string(HERALD_ABI_MINOR) + R"(\)\n)")))
      << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(CliOptions, HelpListsTheCommands) {
  for (const char* flag : {"--help", "-h"}) {
    SCOPED_TRACE(flag);
    const ProcessResult r = Herald({flag});
    ExpectExit(r, 0);
    EXPECT_THAT(r.out, AllOf(HasSubstr("Usage: herald"), HasSubstr("publish"), HasSubstr("drivers"),
                             HasSubstr("check"), HasSubstr("--config"), HasSubstr("--plugin-dir")));
    EXPECT_EQ(r.err, "");
  }
}

TEST_F(CliOptions, NoCommand) {
  ExpectError(Herald({}), 2, "no command given (see herald --help)");
}

TEST_F(CliOptions, UnknownCommand) {
  ExpectError(Herald({"frobnicate"}), 2, "unknown command `frobnicate` (see herald --help)");
}

TEST_F(CliOptions, UnknownOption) {
  ExpectErrorThat(Herald({"--frobnicate", "check"}), 2,
                  AllOf(HasSubstr("--frobnicate"), EndsWith(" (see herald --help)")));
  ExpectErrorThat(Herald({"publish", "t", "--frobnicate"}), 2,
                  AllOf(HasSubstr("--frobnicate"), EndsWith(" (see herald --help)")));
}

TEST_F(CliOptions, OptionWithoutItsValue) {
  ExpectErrorThat(Herald({"check", "--config"}), 2,
                  AllOf(HasSubstr("config"), EndsWith(" (see herald --help)")));
}

TEST_F(CliOptions, PublishOptionsOnOtherCommands) {
  const fs::path config = WriteConfig(kGoodConfig);
  ExpectError(Herald({"--config", config.string(), "check", "-c", "log"}), 2,
              "-c/--connection, -m/--message, --server and --api-key are options of `publish` (see "
              "herald --help)");
}

TEST_F(CliOptions, UnknownLogLevel) {
  const fs::path config = WriteConfig(kGoodConfig);
  ExpectError(Herald({"--config", config.string(), "--log-level", "chatty", "check"}), 2,
              "unknown log level `chatty` (see herald --help)");
}

TEST_F(CliOptions, EveryLogLevelTheHelpNamesIsAccepted) {
  const fs::path config = WriteConfig(kGoodConfig);
  // --help: "trace, debug, info (default), warn, error, critical, off"; `warning` is the
  // spelling the log driver's `level` setting uses.
  for (const char* level :
       {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}) {
    SCOPED_TRACE(level);
    const ProcessResult r = Herald({"--config", config.string(), "--log-level", level, "check"});
    ExpectExit(r, 0);
    EXPECT_THAT(r.out, HasSubstr(": OK (2 connections, default `log`, 0 topic rules; "));
  }
}

TEST_F(CliOptions, GlobalOptionsAfterTheCommand) {
  const fs::path config = WriteConfig(kGoodConfig);
  const ProcessResult r =
      Herald({"publish", "--config", config.string(), "--plugin-dir", kPluginDir.string(),
              "--log-level", "info", "order.1", "-m", "late options"});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out), ElementsAre(EndsWith(LogLine("order.1", "late options"))));
  EXPECT_EQ(r.err, "");
}

TEST_F(CliOptions, HeraldConfigPicksTheConfig) {
  const fs::path config = WriteConfig(kGoodConfig, "elsewhere.toml");
  const ProcessResult r =
      Herald({"publish", "t", "-m", "from env"}, {{"HERALD_CONFIG", config.string()}});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out), ElementsAre(EndsWith(LogLine("t", "from env"))));
}

TEST_F(CliOptions, ConfigOptionBeatsHeraldConfig) {
  const fs::path config = WriteConfig(kGoodConfig, "chosen.toml");
  const ProcessResult r = Herald({"--config", config.string(), "publish", "t", "-m", "m"},
                                 {{"HERALD_CONFIG", (dir_ / "absent.toml").string()}});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out), ElementsAre(EndsWith(LogLine("t", "m"))));
}

TEST_F(CliOptions, ConfigInTheWorkingDirectoryIsTheDefault) {
  WriteConfig(kGoodConfig, "config/broadcasting.toml");
  const ProcessResult r = Herald({"publish", "t", "-m", "found it"});
  ExpectExit(r, 0);
  EXPECT_THAT(split_lines(r.out), ElementsAre(EndsWith(LogLine("t", "found it"))));
}

TEST_F(CliOptions, HeraldPluginPathMakesAPluginUsable) {
  const fs::path extra = dir_ / "extra";
  CopyPlugin(kFixtureDir / "herald_fixture_recorder.so", extra);
  const fs::path config = WriteConfig(R"(default = "rec"

[connections.rec]
driver = "recorder"
path = "records.txt"
)");
  const ProcessResult without = Herald({"--config", config.string(), "publish", "t", "-m", "m"});
  ExpectErrorThat(without, 2, HasSubstr("driver `recorder` of connection `rec` is not available"));
  const ProcessResult with = Herald({"--config", config.string(), "publish", "t", "-m", "m"},
                                    {{"HERALD_PLUGIN_PATH", extra.string()}});
  ExpectExit(with, 0);
  EXPECT_EQ(read_file(dir_ / "records.txt"), "t|m\n");
}

TEST_F(CliOptions, BroadcastConnectionOverridesTheDefault) {
  const fs::path config = WriteConfig(R"(default = "null"

[connections.log]
driver = "log"

[connections.null]
driver = "null"
)");
  const std::vector<std::string> args{"--config", config.string(), "publish", "t", "-m", "m"};
  const ProcessResult quiet = Herald(args);
  ExpectExit(quiet, 0);
  EXPECT_EQ(quiet.out, "");

  const ProcessResult loud = Herald(args, {{"BROADCAST_CONNECTION", "log"}});
  ExpectExit(loud, 0);
  EXPECT_THAT(split_lines(loud.out), ElementsAre(EndsWith(LogLine("t", "m"))));

  // -c still wins over the environment.
  std::vector<std::string> explicit_null = args;
  explicit_null.insert(explicit_null.begin() + 3, {"-c", "null"});
  const ProcessResult chosen = Herald(explicit_null, {{"BROADCAST_CONNECTION", "log"}});
  ExpectExit(chosen, 0);
  EXPECT_EQ(chosen.out, "");
}

TEST_F(CliOptions, BroadcastConnectionToUnknownConnection) {
  const fs::path config = WriteConfig(kGoodConfig);
  ExpectError(Herald({"--config", config.string(), "check"}, {{"BROADCAST_CONNECTION", "nope"}}), 2,
              config.string() + ": Config for connection `nope` is not defined.");
}

TEST_F(CliOptions, CallerEnvironmentDoesNotLeakIn) {
  // Guards the harness itself: the child sees PATH and what the test sets, nothing more.
  RunOptions options;
  options.env = {{"ONLY_THIS", "1"}};
  const ProcessResult r = RunProcess("/usr/bin/env", {}, options);
  ExpectExit(r, 0);
  for (const auto& line : split_lines(r.out))
    EXPECT_THAT(line, ::testing::AnyOf(StartsWith("PATH="), "ONLY_THIS=1"));
}

TEST_F(CliOptions, HangingChildIsKilledAtTheTimeout) {
  RunOptions options;
  options.timeout = std::chrono::milliseconds(200);
  const ProcessResult r = RunProcess("/bin/sleep", {"30"}, options);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
}

}  // namespace
}  // namespace herald::cli_test

// ---------------------------------------------------------------------------------------------
// the real `log` plugin's settings: sink, path, level, pattern

namespace herald::cli_test {
namespace {

using testing_support::read_lines;

class CliLogDriver : public CliTest {
 protected:
  ProcessResult PublishWith(const std::string& settings) {
    const fs::path config =
        WriteConfig("default = \"log\"\n[connections.log]\ndriver = \"log\"\n" + settings);
    return Herald({"--config", config.string(), "--plugin-dir", kPluginDir.string(), "publish",
                   "order.1", "order.2", "-m", "one", "-m", "two"});
  }
};

TEST_F(CliLogDriver, FileSinkWritesOneLinePerMessageNextToTheConfig) {
  const ProcessResult r = PublishWith("sink = \"file\"\npath = \"logs/events.log\"\n");
  ExpectExit(r, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(read_lines(dir_ / "logs/events.log"),
              ElementsAre(EndsWith("[info] Broadcasting on channels [order.1, order.2] with "
                                   "payload: one"),
                          EndsWith("[info] Broadcasting on channels [order.1, order.2] with "
                                   "payload: two")));
}

TEST_F(CliLogDriver, StderrSinkAndLevelAndPattern) {
  const ProcessResult r =
      PublishWith("sink = \"stderr\"\nlevel = \"debug\"\npattern = \"%l|%v\"\n");
  ExpectExit(r, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(split_lines(r.err),
              ElementsAre("debug|Broadcasting on channels [order.1, order.2] with payload: one",
                          "debug|Broadcasting on channels [order.1, order.2] with payload: two"));
}

TEST_F(CliLogDriver, HostSinkGoesThroughHeraldsLoggerAndItsLevel) {
  const ProcessResult shown = PublishWith("sink = \"host\"\nlevel = \"warning\"\n");
  ExpectExit(shown, 0);
  EXPECT_THAT(split_lines(shown.err),
              ElementsAre(EndsWith("[warning] [log] Broadcasting on channels [order.1, order.2] "
                                   "with payload: one"),
                          EndsWith("[warning] [log] Broadcasting on channels [order.1, order.2] "
                                   "with payload: two")));
  // At debug, below herald's default info level, the host logger drops the records.
  const ProcessResult hidden = PublishWith("sink = \"host\"\nlevel = \"debug\"\n");
  ExpectExit(hidden, 0);
  EXPECT_EQ(hidden.err, "");
}

TEST_F(CliLogDriver, UnwritableFileIsARuntimeFailure) {
  const ProcessResult r = PublishWith("sink = \"file\"\npath = \"/proc/no/such/dir/x.log\"\n");
  ExpectExit(r, 1);
  EXPECT_THAT(split_lines(r.err), ElementsAre(AllOf(StartsWith("herald: "),
                                                    HasSubstr("connection `log` (driver `log`): "
                                                              "cannot start:"))));
}

}  // namespace
}  // namespace herald::cli_test
