// BroadcastConfig: ports Spiral's BroadcastConfigTest and the config part of
// BroadcastingBootloaderTest, plus the TOML specifics (positions, env expansion, type errors).
#include "config/broadcast_config.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "auth/topic_rules.hpp"
#include "core/errors.hpp"
#include "server/server_config.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* kFile = "broadcasting.toml";
constexpr const char* kBaseDir = "/etc/herald";

EnvLookup fake_env(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

BroadcastConfig parse(std::string_view text, const EnvLookup& env = fake_env()) {
  return BroadcastConfig::parse(text, kFile, kBaseDir, env);
}

// The ConfigException message `f` throws; fails the test when it throws nothing.
template <typename F>
std::string error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const ConfigException& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigException";
  return "";
}

std::string parse_error(std::string_view text, const EnvLookup& env = fake_env()) {
  return error_of([&] { (void)parse(text, env); });
}

// Spiral's BroadcastConfigTest setUp, as TOML (closures become rules). Line numbers matter.
constexpr const char* kSpiralConfig = R"(default = "firebase"

[authorize]
path = "foo-path"

[[authorize.topics]]
pattern = "bar-topic.{id}"
rule = { allow = true }

[[authorize.topics]]
pattern = "foo-topic"
rule = { header = "X-Foo", equals = "foo" }

[aliases]
users-data = "firebase"
foo-data = "foo"

[driverAliases]
log = "log-driver"

[connections.firebase]
driver = "log"

[connections.null]
driver = "null-driver"

[connections.memory]
)";

class BroadcastConfigTest : public ::testing::Test {
 protected:
  BroadcastConfig config_ = parse(kSpiralConfig);
};

TEST_F(BroadcastConfigTest, GetsDefaultConnection) {
  EXPECT_EQ(config_.default_connection(), "firebase");
}

TEST_F(BroadcastConfigTest, GetsConnectionConfigByName) {
  const ConnectionConfig conn = config_.connection_config("null");
  EXPECT_EQ(conn.options, (toml::table{{"driver", "null-driver"}}));
  EXPECT_EQ(conn.name, "null");
  EXPECT_EQ(conn.driver, "null-driver");
  EXPECT_EQ(conn.where.str(), "broadcasting.toml:24:1");
  EXPECT_EQ(conn.driver_where.str(), "broadcasting.toml:25:10");
}

TEST_F(BroadcastConfigTest, GetsConnectionWithAliasDriverShouldBeReplacedWithRealDriver) {
  const ConnectionConfig conn = config_.connection_config("firebase");
  EXPECT_EQ(conn.driver, "log-driver");
  EXPECT_EQ(conn.options, (toml::table{{"driver", "log-driver"}}));
  // Points at the alias that chose the plugin, not at `driver = "log"`.
  EXPECT_EQ(conn.driver_where.str(), "broadcasting.toml:19:7");
}

TEST_F(BroadcastConfigTest, NotDefinedConnectionShouldThrowAnException) {
  EXPECT_EQ(error_of([&] { config_.connection_config("foo"); }),
            "broadcasting.toml: Config for connection `foo` is not defined.");
}

TEST_F(BroadcastConfigTest, ConnectionWithoutDefinedDriverShouldThrowAnException) {
  EXPECT_EQ(error_of([&] { config_.connection_config("memory"); }),
            "broadcasting.toml:27:1: Driver for `memory` connection is not defined.");
}

TEST_F(BroadcastConfigTest, GetAuthorizationPath) {
  EXPECT_EQ(config_.authorization_path(), std::optional<std::string>("foo-path"));
}

TEST_F(BroadcastConfigTest, NotDefinedAuthorizationPathShouldReturnNull) {
  EXPECT_EQ(parse("").authorization_path(), std::nullopt);
  EXPECT_EQ(parse("[authorize]\n").authorization_path(), std::nullopt);
  EXPECT_EQ(parse("[authorize]\npath = \"\"\n").authorization_path(), std::nullopt);
}

TEST_F(BroadcastConfigTest, GetsTopics) {
  const std::vector<TopicRuleConfig>& topics = config_.topics();
  ASSERT_EQ(topics.size(), 2u);
  EXPECT_EQ(topics[0].pattern, "bar-topic.{id}");
  EXPECT_EQ(topics[0].rule, (toml::table{{"allow", true}}));
  EXPECT_EQ(topics[0].where.str(), "broadcasting.toml:6:1");
  EXPECT_EQ(topics[1].pattern, "foo-topic");
  EXPECT_EQ(topics[1].rule, (toml::table{{"header", "X-Foo"}, {"equals", "foo"}}));
  EXPECT_EQ(topics[1].where.str(), "broadcasting.toml:10:1");
}

TEST_F(BroadcastConfigTest, GetsAliasesAndDriverAliases) {
  EXPECT_EQ(config_.aliases(),
            (BroadcastConfig::NameMap{{"users-data", "firebase"}, {"foo-data", "foo"}}));
  EXPECT_EQ(config_.connection_config("firebase").driver, "log-driver");  // through driverAliases
  EXPECT_EQ(config_.resolve_alias("users-data"), "firebase");
  EXPECT_EQ(config_.resolve_alias("firebase"), "firebase");
}

TEST_F(BroadcastConfigTest, ConnectionNamesAreInFileOrder) {
  EXPECT_THAT(config_.connection_names(), ElementsAre("firebase", "null", "memory"));
}

// BroadcastingBootloaderTest runs with BROADCAST_CONNECTION=null, BROADCAST_AUTHORIZE_PATH=/ws.
TEST(BroadcastingBootloaderTest, EnvOverridesDefaultConnectionAndAuthorizationPath) {
  const auto env =
      fake_env({{"BROADCAST_CONNECTION", "null"}, {"BROADCAST_AUTHORIZE_PATH", "/ws"}});
  const BroadcastConfig empty = parse("", env);
  EXPECT_EQ(empty.default_connection(), "null");
  EXPECT_EQ(empty.authorization_path(), std::optional<std::string>("/ws"));

  const BroadcastConfig spiral = parse(kSpiralConfig, env);
  EXPECT_EQ(spiral.default_connection(), "null");
  EXPECT_EQ(spiral.authorization_path(), std::optional<std::string>("/ws"));
}

TEST(BroadcastingBootloaderTest, EnvOverrideSkipsTheFilesDefault) {
  // The file's value is never consulted, so its type does not matter.
  const auto env = fake_env({{"BROADCAST_CONNECTION", "log"}});
  EXPECT_EQ(parse("default = 5\n", env).default_connection(), "log");
}

TEST(BroadcastingBootloaderTest, EmptyEnvValuesDoNotOverride) {
  const auto env = fake_env({{"BROADCAST_CONNECTION", ""}, {"BROADCAST_AUTHORIZE_PATH", ""}});
  const BroadcastConfig config = parse(kSpiralConfig, env);
  EXPECT_EQ(config.default_connection(), "firebase");
  EXPECT_EQ(config.authorization_path(), std::optional<std::string>("foo-path"));
}

TEST(BroadcastingBootloaderTest, DefaultsOfAnEmptyFile) {
  const BroadcastConfig config = parse("");
  EXPECT_EQ(config.default_connection(), "null");
  EXPECT_EQ(config.resolve_alias("null"), "null");
  EXPECT_EQ(config.authorization_path(), std::nullopt);
  EXPECT_THAT(config.topics(), IsEmpty());
  EXPECT_THAT(config.aliases(), IsEmpty());
  EXPECT_THAT(config.plugin_dirs(), IsEmpty());
  EXPECT_THAT(config.connection_names(), ElementsAre("null"));
  const ConnectionConfig conn = config.connection_config("null");
  EXPECT_EQ(conn.driver, "null");
  EXPECT_EQ(conn.options, (toml::table{{"driver", "null"}}));
  EXPECT_EQ(config.file(), "broadcasting.toml");
  EXPECT_EQ(config.base_dir(), fs::path("/etc/herald"));
}

TEST(BroadcastConfigParseTest, ConfiguredConnectionsReplaceTheImplicitNullConnection) {
  const BroadcastConfig config = parse("[connections.log]\ndriver = \"log\"\n");
  EXPECT_THAT(config.connection_names(), ElementsAre("log"));
  EXPECT_EQ(error_of([&] { config.connection_config("null"); }),
            "broadcasting.toml: Config for connection `null` is not defined.");
}

TEST(BroadcastConfigParseTest, ConnectionOptionsKeepEveryKey) {
  const BroadcastConfig config = parse(R"([connections.log]
driver = "log"
level = "debug"
sink = "stderr"
flush = false
)");
  const ConnectionConfig conn = config.connection_config("log");
  EXPECT_EQ(conn.driver, "log");
  EXPECT_EQ(
      conn.options,
      (toml::table{{"driver", "log"}, {"level", "debug"}, {"sink", "stderr"}, {"flush", false}}));
  EXPECT_EQ(conn.where.str(), "broadcasting.toml:1:1");
  EXPECT_EQ(conn.driver_where.str(), "broadcasting.toml:2:10");
}

TEST(BroadcastConfigParseTest, CopiesKeepSourcePositions) {
  // toml::table copies drop positions; a copied config must still point into the file.
  const BroadcastConfig original = parse("\n[connections.x]\n");
  const BroadcastConfig copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(error_of([&] { copy.connection_config("x"); }),
            "broadcasting.toml:2:1: Driver for `x` connection is not defined.");
  EXPECT_EQ(&copy.document(), &original.document());
}

TEST(BroadcastConfigParseTest, TomlSyntaxErrorHasLineAndColumn) {
  EXPECT_EQ(parse_error("default = \"log\"\nplugin_dirs = [\"a\" \"b\"]\n"),
            "broadcasting.toml:2:20: TOML syntax error: Error while parsing array: expected "
            "comma or closing ']', saw '\"'");
  EXPECT_EQ(parse_error("[connections.log\ndriver = \"log\"\n"),
            "broadcasting.toml:1:17: TOML syntax error: Error while parsing table header: "
            "expected ']', saw '\\n'");
}

TEST(BroadcastConfigParseTest, DriverThatIsNotAStringIsAnError) {
  const BroadcastConfig config = parse("[connections.x]\ndriver = 5\n");
  EXPECT_EQ(error_of([&] { config.connection_config("x"); }),
            "broadcasting.toml:2:10: Driver value for `x` connection must be a string");
}

TEST(BroadcastConfigParseTest, EmptyDriverCountsAsNotDefined) {
  const BroadcastConfig config = parse("[connections.x]\ndriver = \"${DRIVER:-}\"\n");
  EXPECT_EQ(error_of([&] { config.connection_config("x"); }),
            "broadcasting.toml:2:10: Driver for `x` connection is not defined.");
}

TEST(BroadcastConfigParseTest, AliasesAreAppliedOnceNotRecursively) {
  const BroadcastConfig config = parse(R"([aliases]
events = "audit"
audit = "log"
)");
  EXPECT_EQ(config.resolve_alias("events"), "audit");
  EXPECT_EQ(config.resolve_alias("audit"), "log");
  EXPECT_EQ(config.resolve_alias("log"), "log");
  EXPECT_EQ(config.resolve_alias(""), "");
}

TEST(BroadcastConfigParseTest, DriverAliasIsAppliedOnce) {
  const BroadcastConfig config = parse(R"([driverAliases]
a = "b"
b = "c"
[connections.x]
driver = "a"
)");
  EXPECT_EQ(config.connection_config("x").driver, "b");
}

TEST(BroadcastConfigParseTest, UnknownTopLevelKeyIsAnError) {
  EXPECT_EQ(parse_error("default = \"log\"\ndefualt = \"x\"\n"),
            "broadcasting.toml:2:1: unknown key `defualt` (expected default, env_file, plugin_dirs, "
            "authorize, aliases, connections, driverAliases, server)");
  EXPECT_EQ(parse_error("[connection.log]\ndriver = \"log\"\n"),
            "broadcasting.toml:1:2: unknown key `connection` (expected default, env_file, plugin_dirs, "
            "authorize, aliases, connections, driverAliases, server)");
}

TEST(BroadcastConfigParseTest, FirstUnknownKeyInFileOrderIsReported) {
  EXPECT_THAT(parse_error("zzz = 1\naaa = 2\n"), HasSubstr("unknown key `zzz`"));
}

TEST(BroadcastConfigParseTest, DefaultOfTheWrongTypeFailsLazily) {
  const BroadcastConfig config = parse("default = 5\n");  // parsing succeeds, as in Spiral
  EXPECT_EQ(error_of([&] { config.default_connection(); }),
            "broadcasting.toml:1:11: Default broadcast connection config value must be a string");
}

TEST(BroadcastConfigParseTest, EmptyDefaultFailsLazily) {
  const BroadcastConfig config = parse("default = \"${CONN:-}\"\n");
  EXPECT_EQ(error_of([&] { config.default_connection(); }),
            "broadcasting.toml:1:11: Default broadcast connection is not defined.");
}

struct TypeErrorCase {
  const char* name;
  const char* toml;
  const char* message;
};

class BroadcastConfigTypeErrorTest : public ::testing::TestWithParam<TypeErrorCase> {};

TEST_P(BroadcastConfigTypeErrorTest, IsReportedWithPosition) {
  EXPECT_EQ(parse_error(GetParam().toml), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    AllSections, BroadcastConfigTypeErrorTest,
    ::testing::Values(
        TypeErrorCase{"PluginDirsNotArray", "plugin_dirs = \"plugins\"\n",
                      "broadcasting.toml:1:15: `plugin_dirs` must be an array of strings"},
        TypeErrorCase{"PluginDirsEntryNotString", "plugin_dirs = [\"a\", 1]\n",
                      "broadcasting.toml:1:21: `plugin_dirs` must be an array of strings"},
        TypeErrorCase{"AliasesNotTable", "aliases = \"events\"\n",
                      "broadcasting.toml:1:11: `aliases` must be a table"},
        TypeErrorCase{"AliasNotString", "[aliases]\nevents = 1\n",
                      "broadcasting.toml:2:10: alias `events` must be a string"},
        TypeErrorCase{"DriverAliasesNotTable", "driverAliases = []\n",
                      "broadcasting.toml:1:17: `driverAliases` must be a table"},
        TypeErrorCase{"DriverAliasNotString", "[driverAliases]\nlog = true\n",
                      "broadcasting.toml:2:7: `driverAliases.log` must be a string"},
        TypeErrorCase{"ConnectionsNotTable", "connections = [\"log\"]\n",
                      "broadcasting.toml:1:15: `connections` must be a table"},
        TypeErrorCase{"ConnectionNotTable", "[connections]\nfoo = \"log\"\n",
                      "broadcasting.toml:2:7: `connections.foo` must be a table"},
        TypeErrorCase{"AuthorizeNotTable", "authorize = \"/auth\"\n",
                      "broadcasting.toml:1:13: `authorize` must be a table"},
        TypeErrorCase{"AuthorizePathNotString", "[authorize]\npath = 1\n",
                      "broadcasting.toml:2:8: `authorize.path` must be a string"},
        TypeErrorCase{"AuthorizeUnknownKey", "[authorize]\npaht = \"/auth\"\n",
                      "broadcasting.toml:2:1: unknown key `authorize.paht` (expected path, "
                      "topics)"},
        TypeErrorCase{"TopicsNotArray", "[authorize]\ntopics = { pattern = \"x\" }\n",
                      "broadcasting.toml:2:10: `authorize.topics` must be an array of tables"},
        TypeErrorCase{"TopicNotTable", "[authorize]\ntopics = [\"topic\"]\n",
                      "broadcasting.toml:2:11: `authorize.topics` must be an array of tables"},
        TypeErrorCase{"TopicWithoutPattern",
                      "[[authorize.topics]]\npattern = \"a\"\nrule = { allow = true }\n"
                      "[[authorize.topics]]\nrule = { allow = true }\n",
                      "broadcasting.toml:4:1: `authorize.topics[2]` needs a string `pattern`"},
        TypeErrorCase{"TopicPatternNotString",
                      "[[authorize.topics]]\npattern = 1\nrule = { allow = true }\n",
                      "broadcasting.toml:2:11: `authorize.topics[1]` needs a string `pattern`"},
        TypeErrorCase{"TopicWithoutRule", "[[authorize.topics]]\npattern = \"a\"\n",
                      "broadcasting.toml:1:1: `authorize.topics[1]` needs a table `rule`"},
        TypeErrorCase{"TopicRuleNotTable",
                      "[[authorize.topics]]\npattern = \"a\"\nrule = \"allow\"\n",
                      "broadcasting.toml:3:8: `authorize.topics[1]` needs a table `rule`"},
        TypeErrorCase{"TopicUnknownKey",
                      "[[authorize.topics]]\npattern = \"a\"\nrules = { allow = true }\n",
                      "broadcasting.toml:3:1: unknown key `authorize.topics[1].rules` (expected "
                      "pattern, rule)"},
        TypeErrorCase{"ServerNotTable", "server = \"127.0.0.1:8080\"\n",
                      "broadcasting.toml:1:10: `server` must be a table"}),
    [](const ::testing::TestParamInfo<TypeErrorCase>& p) { return p.param.name; });

TEST(BroadcastConfigEnvTest, ExpandsStringsEverywhereButKeys) {
  const auto env = fake_env({{"HOST", "0.0.0.0"},
                             {"SECRET", "s3cr3t"},
                             {"JWT", "jwt-key"},
                             {"CONN", "ws"},
                             {"DIR", "drivers"},
                             {"NESTED", "deep"}});
  const BroadcastConfig config = parse(R"(default = "${CONN}"
plugin_dirs = ["${DIR}"]

[server]
listen = "${HOST}:8080"
ports = [1, 2]
matrix = [["${NESTED}"], [{ name = "${NESTED}-table" }]]
[[server.routes]]
path = "/${NESTED}"

[[authorize.topics]]
pattern = "order.{uuid}"
rule = { jwt = { secret = "${JWT}", claim = "sub", equals = "{uuid}" } }

[connections.ws]
driver = "websocket"
secret = "${SECRET}"
"${KEY}" = "kept"
)",
                                       env);
  EXPECT_EQ(config.default_connection(), "ws");
  EXPECT_THAT(config.plugin_dirs(), ElementsAre(fs::path("/etc/herald/drivers")));

  const toml::table& doc = config.document();
  EXPECT_EQ(doc["server"]["listen"].value<std::string>(), "0.0.0.0:8080");
  EXPECT_EQ(doc["server"]["ports"][1].value<int64_t>(), 2);
  EXPECT_EQ(doc["server"]["matrix"][0][0].value<std::string>(), "deep");
  EXPECT_EQ(doc["server"]["matrix"][1][0]["name"].value<std::string>(), "deep-table");
  EXPECT_EQ(doc["server"]["routes"][0]["path"].value<std::string>(), "/deep");

  ASSERT_EQ(config.topics().size(), 1u);
  EXPECT_EQ(config.topics()[0].rule["jwt"]["secret"].value<std::string>(), "jwt-key");
  // `{uuid}` is a topic parameter, not an env reference.
  EXPECT_EQ(config.topics()[0].rule["jwt"]["equals"].value<std::string>(), "{uuid}");

  const ConnectionConfig conn = config.connection_config("ws");
  EXPECT_EQ(conn.options["secret"].value<std::string>(), "s3cr3t");
  // Keys are written literally, even when they look like a reference.
  EXPECT_EQ(conn.options["${KEY}"].value<std::string>(), "kept");
}

TEST(BroadcastConfigEnvTest, UndefinedVariableIsReportedAtTheStringWithoutOtherValues) {
  const auto env = fake_env({{"DRIVER", "websocket"}, {"APP_KEY", "top-secret-key"}});
  const std::string message = parse_error(R"([connections.ws]
driver = "${DRIVER}"
key = "${APP_KEY}"
secret = "${HERALD_APP_SECRET}"
)",
                                          env);
  EXPECT_EQ(message,
            "broadcasting.toml:4:10: environment variable `HERALD_APP_SECRET` is not set (write "
            "${HERALD_APP_SECRET:-default} to give a default)");
  EXPECT_THAT(message, Not(HasSubstr("top-secret-key")));
  EXPECT_THAT(message, Not(HasSubstr("websocket")));
}

TEST(BroadcastConfigEnvTest, UndefinedVariableInANestedArrayHasItsPosition) {
  EXPECT_EQ(parse_error("[server]\nlist = [\"a\", [\"${NOPE}\"]]\n"),
            "broadcasting.toml:2:15: environment variable `NOPE` is not set (write "
            "${NOPE:-default} to give a default)");
}

TEST(BroadcastConfigEnvTest, DefaultValueSyntax) {
  const auto env = fake_env({{"EMPTY", ""}, {"SET", "from-env"}});
  const BroadcastConfig config = parse(R"([connections.ws]
driver = "websocket"
a = "${UNSET:-change-me}"
b = "${EMPTY:-fallback}"
c = "${SET:-unused}"
)",
                                       env);
  const toml::table options = config.connection_config("ws").options;
  EXPECT_EQ(options["a"].value<std::string>(), "change-me");
  EXPECT_EQ(options["b"].value<std::string>(), "fallback");
  EXPECT_EQ(options["c"].value<std::string>(), "from-env");
}

TEST(BroadcastConfigEnvTest, DollarDollarBraceWritesALiteral) {
  const BroadcastConfig config =
      parse("[server]\ntemplate = \"$${NAME} costs 5$\"\n", fake_env({{"NAME", "x"}}));
  EXPECT_EQ(config.document()["server"]["template"].value<std::string>(), "${NAME} costs 5$");
}

TEST(BroadcastConfigEnvTest, SyntaxErrorsInReferencesHaveThePosition) {
  EXPECT_EQ(parse_error("default = \"${CONN\"\n"),
            "broadcasting.toml:1:11: unterminated ${ at character 1 of the value (close it "
            "with `}`, or write $${ for a literal ${)");
  EXPECT_EQ(parse_error("\ndefault = \"${1X}\"\n"),
            "broadcasting.toml:2:11: invalid variable name in the ${...} at character 1 of the "
            "value (a name is letters, digits and _, not starting with a digit; write $${ for a "
            "literal ${)");
}

TEST(BroadcastConfigPluginDirsTest, RelativeEntriesAreResolvedAgainstBaseDir) {
  const BroadcastConfig config = parse(R"(plugin_dirs = [
  "plugins",
  "../lib/herald/plugins",
  "/opt/herald//plugins",
  "./extra/",
  "${EXTRA_PLUGIN_DIR:-}",
  "${MORE}",
]
)",
                                       fake_env({{"MORE", "more/../more-plugins"}}));
  EXPECT_THAT(config.plugin_dirs(),
              ElementsAre(fs::path("/etc/herald/plugins"), fs::path("/etc/lib/herald/plugins"),
                          fs::path("/opt/herald/plugins"), fs::path("/etc/herald/extra"),
                          fs::path("/etc/herald/more-plugins")));
}

TEST(BroadcastConfigPluginDirsTest, BaseDirIsNormalized) {
  const BroadcastConfig config =
      BroadcastConfig::parse("plugin_dirs = [\"p\"]\n", kFile, "/srv/app/./config/", fake_env());
  EXPECT_EQ(config.base_dir(), fs::path("/srv/app/config"));
  EXPECT_THAT(config.plugin_dirs(), ElementsAre(fs::path("/srv/app/config/p")));
}

TEST(BroadcastConfigParseTest, ConnectionNamesFollowTheFileNotTheKeyOrder) {
  const BroadcastConfig tables = parse(R"([connections.zeta]
driver = "null"
[connections.alpha]
driver = "log"
[connections.mid]
driver = "null"
)");
  EXPECT_THAT(tables.connection_names(), ElementsAre("zeta", "alpha", "mid"));

  const BroadcastConfig inline_tables =
      parse("connections = { b = { driver = \"null\" }, a = { driver = \"log\" } }\n");
  EXPECT_THAT(inline_tables.connection_names(), ElementsAre("b", "a"));
}

// A scratch directory removed when the test ends.
class BroadcastConfigLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("herald-config-test-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  fs::path dir_;
};

TEST_F(BroadcastConfigLoadTest, MissingFileIsAnError) {
  const fs::path path = dir_ / "missing.toml";
  EXPECT_EQ(error_of([&] { BroadcastConfig::load(path, fake_env()); }),
            path.string() + ": cannot read config file: No such file or directory");
}

TEST_F(BroadcastConfigLoadTest, DirectoryIsAnError) {
  EXPECT_EQ(error_of([&] { BroadcastConfig::load(dir_, fake_env()); }),
            dir_.string() + ": cannot read config file: Is a directory");
}

TEST_F(BroadcastConfigLoadTest, LoadsAFileAndResolvesAgainstItsDirectory) {
  const fs::path path = write("herald.toml", "default = \"log\"\nplugin_dirs = [\"plugins\"]\n");
  const BroadcastConfig config = BroadcastConfig::load(path, fake_env());
  EXPECT_EQ(config.default_connection(), "log");
  EXPECT_EQ(config.file(), path.string());
  EXPECT_EQ(config.base_dir(), dir_.lexically_normal());
  EXPECT_THAT(config.plugin_dirs(), ElementsAre((dir_ / "plugins").lexically_normal()));
}

TEST_F(BroadcastConfigLoadTest, ErrorsNameTheFileAsGiven) {
  const fs::path path = write("bad.toml", "[connections.x]\ndriver = 1\n");
  const BroadcastConfig config = BroadcastConfig::load(path, fake_env());
  EXPECT_EQ(error_of([&] { config.connection_config("x"); }),
            path.string() + ":2:10: Driver value for `x` connection must be a string");
  const fs::path broken = write("broken.toml", "default =\n");
  EXPECT_EQ(error_of([&] { BroadcastConfig::load(broken, fake_env()); }),
            broken.string() +
                ":1:10: TOML syntax error: Error while parsing key-value pair: "
                "expected value, saw '\\n'");
}

// The config shipped in the repository must always load with this parser.
TEST(ShippedConfigTest, LoadsAndDescribesTheDefaults) {
  const fs::path path =
      fs::path(HERALD_TEST_SOURCE_DIR) / "config" / "broadcasting.toml";
  std::ostringstream text;
  text << std::ifstream(path).rdbuf();
  ASSERT_FALSE(text.str().empty()) << path;
  // Parsed as if it lived in an empty directory: the env_file that scripts/run.sh writes next to
  // it (config/herald.env, present once run.sh has run) must not decide this test.
  const fs::path empty_dir = fs::temp_directory_path() / ("herald-shipped-" + std::to_string(::getpid()));
  fs::create_directories(empty_dir);
  const auto parse = [&](const EnvLookup& env) {
    return BroadcastConfig::parse(text.str(), path.string(), empty_dir, env);
  };
  // The secrets have no fallback in the shipped file: they come from the environment or the
  // env_file (absent here, set through the environment below).
  EXPECT_THAT(error_of([&] { (void)parse(fake_env()); }), HasSubstr("is not set"));
  const BroadcastConfig config =
      parse(fake_env({{"HERALD_APP_SECRET", "app secret"},
                      {"HERALD_JWT_SECRET", "jwt secret of at least 32 bytes!"}}));
  fs::remove_all(empty_dir);

  EXPECT_EQ(config.default_connection(), "websocket");
  EXPECT_THAT(config.plugin_dirs(), IsEmpty());
  EXPECT_EQ(config.authorization_path(), std::optional<std::string>("/broadcasting/auth"));
  ASSERT_EQ(config.topics().size(), 2u);
  EXPECT_EQ(config.topics()[0].pattern, "order.{uuid}");
  EXPECT_EQ(config.topics()[0].rule,
            (toml::table{{"jwt", toml::table{{"secret", "jwt secret of at least 32 bytes!"},
                                             {"claim", "sub"},
                                             {"equals", "{uuid}"}}}}));
  // The websocket guard's sign-in pseudo-topic (user_topic): the verified token is the user.
  EXPECT_EQ(config.topics()[1].pattern, "#signin");
  // Every rule compiles, and [server] is valid.
  TopicRegistry registry;
  EXPECT_NO_THROW(register_topic_rules(registry, config.topics()));
  EXPECT_NO_THROW(parse_server_config(config));
  EXPECT_EQ(config.resolve_alias("events"), "websocket");
  EXPECT_THAT(config.connection_names(), ElementsAre("log", "null", "websocket"));

  const ConnectionConfig ws = config.connection_config(config.default_connection());
  EXPECT_EQ(ws.driver, "websocket");
  EXPECT_EQ(ws.options["listen"].value<std::string>(), "127.0.0.1:6001");
  EXPECT_EQ(ws.options["key"].value<std::string>(), "herald-key");
  EXPECT_EQ(ws.options["secret"].value<std::string>(), "app secret");
  const ConnectionConfig log = config.connection_config("log");
  EXPECT_EQ(log.options, (toml::table{{"driver", "log"}, {"level", "info"}, {"sink", "stdout"}}));
  EXPECT_EQ(config.connection_config("null").driver, "null");
}

}  // namespace
}  // namespace herald

// ---- env_file: ${VAR}s the environment lacks, from a dotenv-style file next to the config ----

namespace herald {

namespace {

struct EnvFileDir {
  EnvFileDir() {
    dir = std::filesystem::temp_directory_path() /
          ("herald-envfile-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  ~EnvFileDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void write(const std::string& text, std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                                   std::filesystem::perms::owner_write) {
    std::ofstream(dir / "herald.env") << text;
    std::filesystem::permissions(dir / "herald.env", perms);
  }
  BroadcastConfig parse(std::string_view text, const EnvLookup& env = fake_env()) const {
    return BroadcastConfig::parse(text, kFile, dir, env);
  }
  std::filesystem::path dir;
};

constexpr const char* kEnvFileConfig = R"(env_file = "herald.env"
default = "${CONN}"
[connections.ws]
driver = "null"
secret = "${SECRET}"
)";

}  // namespace

TEST(BroadcastConfigEnvFile, FillsWhatTheEnvironmentLacks) {
  EnvFileDir d;
  d.write("# generated\nexport SECRET='from file'\n\nCONN=ws\n");
  const BroadcastConfig config = d.parse(kEnvFileConfig);
  EXPECT_EQ(config.default_connection(), "ws");
  EXPECT_EQ(*config.connection_config("ws").options["secret"].value<std::string>(), "from file");
  const BroadcastConfig env_wins = d.parse(kEnvFileConfig, fake_env({{"SECRET", "from env"}}));
  EXPECT_EQ(*env_wins.connection_config("ws").options["secret"].value<std::string>(), "from env");
}

TEST(BroadcastConfigEnvFile, AMissingFileIsFineButUnsetVariablesStillFail) {
  EnvFileDir d;
  EXPECT_THAT(error_of([&] { (void)d.parse(kEnvFileConfig); }),
              HasSubstr("environment variable `SECRET` is not set"));
}

TEST(BroadcastConfigEnvFile, AWorldReadableFileIsRefusedWithoutShowingValues) {
  EnvFileDir d;
  d.write("SECRET=hunter2-very-secret\nCONN=ws\n",
          std::filesystem::perms::owner_read | std::filesystem::perms::others_read);
  const std::string error = error_of([&] { (void)d.parse(kEnvFileConfig); });
  EXPECT_THAT(error, HasSubstr("readable by every user"));
  EXPECT_THAT(error, Not(HasSubstr("hunter2")));
}

TEST(BroadcastConfigEnvFile, AMalformedLineNamesTheLineNotTheValue) {
  EnvFileDir d;
  d.write("CONN=ws\nthis is hunter2 not a variable\n");
  const std::string error = error_of([&] { (void)d.parse(kEnvFileConfig); });
  EXPECT_THAT(error, HasSubstr("herald.env:2: expected NAME=value"));
  EXPECT_THAT(error, Not(HasSubstr("hunter2")));
}

}  // namespace herald
