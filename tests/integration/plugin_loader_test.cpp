// Plugin::load and PluginCatalog against the fixture plugins in tests/integration/fixtures:
// every way a plugin can be refused, with the exact one-line message the user sees.
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include <herald/driver.h>
#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "plugin/driver_instance.hpp"
#include "plugin/plugin.hpp"
#include "plugin/plugin_catalog.hpp"
#include "plugin/plugin_driver_factory.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::TempDir;

const fs::path kFixtures = HERALD_TEST_FIXTURE_DIR;

fs::path fixture(const std::string& basename) {
  return kFixtures / ("herald_fixture_" + basename + ".so");
}

// What Plugin::load(path) throws; fails the test when it does not throw a PluginException.
std::string load_error(const fs::path& path) {
  try {
    Plugin::load(path);
  } catch (const PluginException& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a PluginException, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << path << " loaded, but should have been refused";
  return {};
}

// "1.0 to 1.<minor>": the ABI range this host accepts.
std::string host_range() {
  const std::string current =
      std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR);
  return "ABI " + (HERALD_ABI_MINOR == 0 ? current
                                         : std::to_string(HERALD_ABI_MAJOR) + ".0 to " + current);
}

std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("plugin-loader-test");  // no sinks
}

ConnectionConfig connection(const std::string& name, const std::string& driver,
                            toml::table options = {}) {
  ConnectionConfig c;
  c.name = name;
  c.driver = driver;
  options.insert_or_assign("driver", driver);
  c.options = std::move(options);
  c.where = SourcePosition{"test.toml", 3, 1};
  c.driver_where = SourcePosition{"test.toml", 4, 10};
  return c;
}

std::vector<std::string> problem_messages(PluginCatalog& catalog) {
  std::vector<std::string> out;
  for (const auto& p : catalog.problems()) out.push_back(p.error);
  return out;
}

// ---- Plugin::load: the happy path ---------------------------------------------------------

TEST(PluginLoad, ReadsTheDeclaredInfoOfAValidPlugin) {
  auto plugin = Plugin::load(fixture("recorder"));
  const PluginInfo& info = plugin->info();
  EXPECT_EQ(info.name, "recorder");
  EXPECT_EQ(info.version, "2.3.4");
  EXPECT_EQ(info.description, "Fixture: appends every publish to a file");
  EXPECT_EQ(info.abi_version, HERALD_ABI_VERSION);
  EXPECT_EQ(info.abi_string(),
            std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR));
  EXPECT_EQ(info.path, fixture("recorder"));
  EXPECT_FALSE(info.can_authorize);
  EXPECT_TRUE(info.can_validate);
  // The host keeps a zero-filled copy sized for its own ABI.
  EXPECT_EQ(plugin->descriptor().struct_size, sizeof(herald_driver_descriptor));
  EXPECT_NE(plugin->descriptor().publish, nullptr);
  EXPECT_EQ(plugin->descriptor().authorize, nullptr);
}

TEST(PluginLoad, AGuardDeclaresAuthorize) {
  auto plugin = Plugin::load(fixture("guard"));
  EXPECT_EQ(plugin->info().name, "fixture-guard");
  EXPECT_TRUE(plugin->info().can_authorize);
  EXPECT_FALSE(plugin->info().can_validate);
}

// ---- Plugin::load: every refusal is one line naming the file -------------------------------

TEST(PluginLoad, RefusesAnotherAbiMajor) {
  const fs::path path = fixture("wrong_major");
  const std::string error = load_error(path);
  EXPECT_EQ(error, path.string() + ": built for driver ABI 2.0, this herald supports " +
                       host_range() + "; rebuild the plugin against Herald SDK " +
                       std::to_string(HERALD_ABI_MAJOR) + ".x");
  EXPECT_THAT(error, Not(HasSubstr("\n")));
}

TEST(PluginLoad, RefusesANewerAbiMinor) {
  const fs::path path = fixture("newer_minor");
  const std::string host =
      std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR);
  const std::string plugin =
      std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR + 1);
  EXPECT_EQ(load_error(path), path.string() + ": built for driver ABI " + plugin +
                                  ", this herald supports " + host_range() +
                                  "; upgrade herald, or rebuild the plugin against Herald SDK " +
                                  host);
}

TEST(PluginLoad, RefusesALibraryWithoutTheProbe) {
  const fs::path path = fixture("no_probe");
  EXPECT_EQ(load_error(path),
            path.string() + ": not a Herald driver (it does not export herald_driver_abi_version)");
}

TEST(PluginLoad, RunsNoCodeOfALibraryThatIsNotADriver) {
  // no_probe's ELF constructor sets this variable; "not a driver" is decided from the export
  // table, without opening (and so without running) the library.
  const fs::path path = fixture("no_probe");
  ::unsetenv("HERALD_FIXTURE_NO_PROBE_RAN");
  EXPECT_THAT(load_error(path), HasSubstr("not a Herald driver"));
  EXPECT_EQ(::getenv("HERALD_FIXTURE_NO_PROBE_RAN"), nullptr);

  // Control: opening the library does run the constructor, so the check above means something.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << ::dlerror();
  EXPECT_STREQ(::getenv("HERALD_FIXTURE_NO_PROBE_RAN"), "1");
  ::dlclose(handle);
  ::unsetenv("HERALD_FIXTURE_NO_PROBE_RAN");
}

TEST(PluginLoad, RefusesANullDescriptor) {
  const fs::path path = fixture("null_descriptor");
  EXPECT_EQ(load_error(path),
            path.string() + ": bad descriptor: herald_driver_get_descriptor() returned NULL");
}

TEST(PluginLoad, RefusesADescriptorSmallerThanAbi10) {
  const fs::path path = fixture("small_descriptor");
  EXPECT_EQ(load_error(path), path.string() + ": bad descriptor: struct_size is " +
                                  std::to_string(offsetof(herald_driver_descriptor, validate)) +
                                  " bytes, ABI 1.0 needs at least " +
                                  std::to_string(HERALD_DESCRIPTOR_MIN_SIZE));
}

TEST(PluginLoad, RefusesADescriptorWithoutPublish) {
  const fs::path path = fixture("no_publish");
  EXPECT_EQ(load_error(path), path.string() + ": bad descriptor: `publish` is NULL (required)");
}

TEST(PluginLoad, RefusesAMissingFile) {
  TempDir dir;
  const fs::path path = dir / "absent.so";
  EXPECT_EQ(load_error(path), path.string() + ": cannot be opened: no such file");
}

TEST(PluginLoad, RefusesADirectory) {
  TempDir dir;
  const fs::path path = dir / "looks_like_a_plugin.so";
  fs::create_directory(path);
  EXPECT_EQ(load_error(path), path.string() + ": cannot be opened: not a regular file");
}

TEST(PluginLoad, RefusesAFileThatIsNotElf) {
  TempDir dir;
  const fs::path path = dir.write("x.so", "this is text, not a shared library\n");
  EXPECT_EQ(load_error(path),
            path.string() + ": cannot be opened: not a shared library for this platform");
}

TEST(PluginLoad, ChecksNotADriverBeforeTheDescriptor) {
  // No probe AND a NULL descriptor: the earlier check ("not a driver") is the one reported.
  const fs::path path = fixture("no_probe_null_descriptor");
  EXPECT_EQ(load_error(path),
            path.string() + ": not a Herald driver (it does not export herald_driver_abi_version)");
}

TEST(PluginLoad, EveryRefusalIsAPluginExceptionAndAConfigException) {
  // The CLI maps both to exit code 2; check the hierarchy with a real refusal.
  EXPECT_THROW(Plugin::load(fixture("no_publish")), ConfigException);
  EXPECT_THROW(Plugin::load(fixture("wrong_major")), PluginException);
}

// ---- DriverInstance ---------------------------------------------------------------------------

TEST(DriverInstance, ADriverWithoutAuthorizeIsNotAGuard) {
  TempDir dir;
  auto plugin = Plugin::load(fixture("recorder"));
  ASSERT_FALSE(plugin->info().can_authorize);
  DriverInstance instance(plugin, connection("rec", "recorder", toml::table{{"path", "rec.log"}}),
                          nullptr, quiet_logger(), dir.path().string());
  EXPECT_EQ(instance.guard(), nullptr);
  // Spiral: a connection that is not a guard lets every request through.
  const AuthorizationStatus status = instance.authorize(AuthRequest{});
  EXPECT_TRUE(status.success());
  EXPECT_FALSE(status.topics().has_value());

  // And it still publishes: the relative `path` resolved against base_dir.
  instance.publish({"t"}, "m");
  std::ifstream in(dir / "rec.log");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "t|m");
}

TEST(DriverInstance, AGuardIsItsOwnGuard) {
  TempDir dir;
  auto plugin = Plugin::load(fixture("guard"));
  DriverInstance instance(plugin, connection("g", "fixture-guard"), nullptr, quiet_logger(),
                          dir.path().string());
  EXPECT_EQ(instance.guard(), static_cast<Guard*>(&instance));
  EXPECT_EQ(&instance.plugin(), plugin.get());
}

TEST(DriverInstance, CreateFailureNamesTheConnectionTheDriverAndTheReason) {
  TempDir dir;
  auto plugin = Plugin::load(fixture("create_throws"));
  try {
    DriverInstance instance(plugin, connection("boom", "create-throws"), nullptr, quiet_logger(),
                            dir.path().string());
    FAIL() << "create should have failed";
  } catch (const DriverException& e) {
    EXPECT_STREQ(e.what(),
                 "test.toml:3:1: connection `boom` (driver `create-throws`): cannot start: "
                 "backend unreachable");
    EXPECT_EQ(e.status(), HERALD_E_FAILED);
  }
}

TEST(DriverInstance, AConfigErrorFromCreateIsAConfigException) {
  TempDir dir;
  auto plugin = Plugin::load(fixture("config_error"));
  try {
    DriverInstance instance(plugin, connection("cfg", "config-error"), nullptr, quiet_logger(),
                            dir.path().string());
    FAIL() << "create should have failed";
  } catch (const ConfigException& e) {
    EXPECT_STREQ(e.what(),
                 "test.toml:3:1: connection `cfg` (driver `config-error`): cannot start: "
                 "`url` is required");
  }
}

TEST(DriverInstance, ValidateRunsThePluginsCheck) {
  auto plugin = Plugin::load(fixture("recorder"));
  EXPECT_NO_THROW(
      validate_connection(*plugin, connection("ok", "recorder", toml::table{{"path", "x"}}), "/"));
  try {
    validate_connection(*plugin, connection("nopath", "recorder"), "/");
    FAIL() << "validate should have refused a connection without `path`";
  } catch (const ConfigException& e) {
    EXPECT_STREQ(e.what(),
                 "test.toml:3:1: connection `nopath` (driver `recorder`): `path` is required");
  }
}

// ---- PluginCatalog ----------------------------------------------------------------------------

TEST(PluginCatalog, FindsAPluginByItsDeclaredNameNotItsFileName) {
  TempDir dir;
  const fs::path copy = dir.copy(fixture("recorder"), "anything.so");
  PluginCatalog catalog({dir.path()});
  auto plugin = catalog.find("recorder");
  ASSERT_NE(plugin, nullptr);
  EXPECT_EQ(plugin->info().path, copy);
  EXPECT_EQ(plugin->info().version, "2.3.4");
  EXPECT_EQ(catalog.find("anything"), nullptr);
  EXPECT_EQ(catalog.find("herald_fixture_recorder"), nullptr);
  EXPECT_TRUE(catalog.problems().empty());
  ASSERT_EQ(catalog.plugins().size(), 1u);
  EXPECT_EQ(catalog.plugins()[0], plugin);
}

TEST(PluginCatalog, ReportsBadPluginsAndKeepsDiscovering) {
  TempDir dir;
  // Sorted by file name, so the bad ones are met before the good one.
  const fs::path text = dir.write("a_text.so", "not a library\n");
  const fs::path no_probe = dir.copy(fixture("no_probe"), "b_no_probe.so");
  const fs::path wrong_major = dir.copy(fixture("wrong_major"), "c_wrong_major.so");
  const fs::path no_publish = dir.copy(fixture("no_publish"), "d_no_publish.so");
  dir.write("readme.txt", "not a .so, ignored\n");
  dir.copy(fixture("recorder"), "z_recorder.so");

  PluginCatalog catalog({dir.path()});
  ASSERT_NE(catalog.find("recorder"), nullptr);
  EXPECT_EQ(catalog.plugins().size(), 1u);

  const auto problems = catalog.problems();
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_EQ(problems[0].path, text);
  EXPECT_EQ(problems[0].error, load_error(text));
  EXPECT_THAT(problems[0].error, HasSubstr("not a shared library for this platform"));
  EXPECT_EQ(problems[1].path, no_probe);
  EXPECT_EQ(problems[1].error, no_probe.string() +
                                   ": not a Herald driver (it does not export "
                                   "herald_driver_abi_version)");
  EXPECT_EQ(problems[2].path, wrong_major);
  EXPECT_THAT(problems[2].error, HasSubstr(wrong_major.string() + ": built for driver ABI 2.0"));
  EXPECT_EQ(problems[3].path, no_publish);
  EXPECT_EQ(problems[3].error,
            no_publish.string() + ": bad descriptor: `publish` is NULL (required)");
}

TEST(PluginCatalog, ScansTheWholeFixtureDirectory) {
  PluginCatalog catalog({kFixtures});
  for (const char* name :
       {"recorder", "fixture-guard", "create-throws", "config-error", "publish-throws",
        "metrics-role", "abi-1-0", "abi-1-1"}) {
    EXPECT_NE(catalog.find(name), nullptr) << name;
  }
  const std::vector<std::string> problems = problem_messages(catalog);
  for (const char* bad : {"wrong_major", "newer_minor", "no_probe", "null_descriptor",
                          "small_descriptor", "no_publish", "no_probe_null_descriptor"}) {
    EXPECT_THAT(problems, ::testing::Contains(load_error(fixture(bad)))) << bad;
  }
  // None of the refused plugins is usable under the name it declares.
  EXPECT_EQ(catalog.find("wrong-major"), nullptr);
  EXPECT_EQ(catalog.find("newer-minor"), nullptr);
  EXPECT_EQ(catalog.find("no-publish"), nullptr);
}

TEST(PluginCatalog, TheFirstDirectoryWinsAndShadowingIsReported) {
  TempDir first, second;
  const fs::path winner = first.copy(fixture("recorder"), "one.so");
  const fs::path loser = second.copy(fixture("recorder"), "two.so");
  second.copy(fixture("guard"), "guard.so");

  PluginCatalog catalog({first.path(), second.path()});
  auto recorder = catalog.find("recorder");
  ASSERT_NE(recorder, nullptr);
  EXPECT_EQ(recorder->info().path, winner);
  // The second directory still contributes the names it alone declares.
  auto guard = catalog.find("fixture-guard");
  ASSERT_NE(guard, nullptr);
  EXPECT_EQ(guard->info().path, second / "guard.so");

  const auto problems = catalog.problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].path, loser);
  EXPECT_EQ(problems[0].error,
            loser.string() + ": driver `recorder` is shadowed by " + winner.string());
  EXPECT_EQ(catalog.plugins().size(), 2u);
}

TEST(PluginCatalog, TheSameFileTwiceIsNotShadowing) {
  TempDir dir;
  dir.copy(fixture("recorder"), "rec.so");
  PluginCatalog catalog({dir.path(), dir.path() / "." / ""});
  ASSERT_NE(catalog.find("recorder"), nullptr);
  EXPECT_TRUE(catalog.problems().empty());
  EXPECT_EQ(catalog.plugins().size(), 1u);
}

TEST(PluginCatalog, AMissingDirectoryIsFine) {
  TempDir dir;
  dir.copy(fixture("recorder"), "rec.so");
  PluginCatalog catalog({dir / "does-not-exist", dir.path()});
  EXPECT_NE(catalog.find("recorder"), nullptr);
  EXPECT_TRUE(catalog.problems().empty());

  PluginCatalog empty({dir / "does-not-exist"});
  EXPECT_EQ(empty.find("recorder"), nullptr);
  EXPECT_TRUE(empty.plugins().empty());
  EXPECT_TRUE(empty.problems().empty());
  EXPECT_EQ(empty.dirs_string(), "[" + (dir / "does-not-exist").string() + "]");
}

TEST(PluginCatalog, LoadByPathIsCachedPerFile) {
  TempDir dir;
  const fs::path copy = dir.copy(fixture("recorder"), "rec.so");
  PluginCatalog catalog(std::vector<fs::path>{});
  auto a = catalog.load(copy);
  auto b = catalog.load(dir.path() / "." / "rec.so");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->info().name, "recorder");
  EXPECT_NE(catalog.load(fixture("recorder")), a);  // another file, another plugin
  // Refusals come through unchanged.
  EXPECT_THROW(catalog.load(fixture("no_publish")), PluginException);
}


// ---- issue 11, defect 11: untrusted plugin paths and the ABI boundary -----------------------

namespace untrusted {

// A copy of the recorder fixture in a fresh directory (0700, owned by the running user).
struct PluginCopy {
  TempDir dir;
  fs::path plugins = dir.path() / "plugins";
  fs::path file;
  PluginCopy() {
    fs::create_directories(plugins);
    fs::permissions(plugins, fs::perms::owner_all | fs::perms::group_read |
                                 fs::perms::group_exec | fs::perms::others_read |
                                 fs::perms::others_exec);
    file = dir.copy(fixture("recorder"), "plugins/recorder.so");
  }
};

TEST(PluginTrust, TheBuildTreesOwnPluginsAreTrusted) {
  EXPECT_EQ(plugin_path_problem(fixture("recorder"), static_cast<unsigned>(::geteuid())),
            std::nullopt);
  EXPECT_EQ(plugin_path_problem(HERALD_TEST_PLUGIN_DIR, static_cast<unsigned>(::geteuid())),
            std::nullopt);
  PluginCopy copy;
  EXPECT_NO_THROW(Plugin::load(copy.file));
}

TEST(PluginTrust, AWorldWritableFileIsRefusedWithTheFix) {
  PluginCopy copy;
  fs::permissions(copy.file, fs::perms::others_write, fs::perm_options::add);
  const std::string p = copy.file.string();
  EXPECT_EQ(load_error(copy.file),
            p + ": refused: " + p +
                " is writable by every user, who could replace the plugin; fix: chmod o-w " + p);
}

TEST(PluginTrust, AWorldWritableDirectoryIsRefusedEvenWhenSticky) {
  PluginCopy copy;
  fs::permissions(copy.plugins, fs::perms::others_write | fs::perms::sticky_bit,
                  fs::perm_options::add);
  const std::string d = copy.plugins.string();
  EXPECT_THAT(load_error(copy.file), HasSubstr(": refused: " + d +
                                               " is writable by every user, who could replace "
                                               "the plugin; fix: chmod o-w " + d));
  // The catalog skips the whole directory, naming it once.
  PluginCatalog catalog({copy.plugins});
  EXPECT_EQ(catalog.find("recorder"), nullptr);
  ASSERT_EQ(catalog.problems().size(), 1u);
  EXPECT_TRUE(catalog.problems()[0].untrusted);
  EXPECT_EQ(catalog.problems()[0].error,
            d + ": plugin directory refused: " + d +
                " is writable by every user, who could replace the plugin; fix: chmod o-w " + d);
}

TEST(PluginTrust, AWorldWritableParentIsRefusedUnlessSticky) {
  PluginCopy copy;
  // The directory above the plugin directory: sticky and world-writable (as /tmp) is fine...
  fs::permissions(copy.dir.path(), fs::perms::all | fs::perms::sticky_bit);
  EXPECT_NO_THROW(Plugin::load(copy.file));
  // ...without the sticky bit anyone could rename `plugins` away and put their own in place.
  fs::permissions(copy.dir.path(), fs::perms::all);
  const std::string up = copy.dir.path().string();
  EXPECT_THAT(load_error(copy.file), HasSubstr(": refused: " + up + " is writable by every user"));
  fs::permissions(copy.dir.path(), fs::perms::owner_all);
}

TEST(PluginTrust, AFileOwnedByAnotherUserIsRefusedWithTheFix) {
  PluginCopy copy;
  const std::string p = copy.file.string();
  if (::geteuid() == 0) {
    // As root: give the file to `nobody` and load it for real.
    ASSERT_EQ(::chown(copy.file.c_str(), 65534, static_cast<gid_t>(-1)), 0);
    const std::string error = load_error(copy.file);
    EXPECT_THAT(error, HasSubstr(p + ": refused: " + p + " is owned by uid 65534"));
    EXPECT_THAT(error, HasSubstr("not root or the user running herald (uid 0"));
    EXPECT_THAT(error, HasSubstr("; fix: chown root " + p));
  } else {
    // As another user: judge the path for a different running user; the test's own files are
    // then "someone else's", the first of them from the top is named.
    const auto problem = plugin_path_problem(copy.file, static_cast<unsigned>(::geteuid()) + 4242);
    ASSERT_TRUE(problem.has_value());
    EXPECT_THAT(*problem, HasSubstr("is owned by uid " + std::to_string(::geteuid())));
    EXPECT_THAT(*problem, HasSubstr("fix: chown root "));
  }
}

TEST(PluginTrust, ASymlinkInAWorldWritableDirectoryIsRefused) {
  PluginCopy copy;
  const fs::path open_dir = copy.dir.path() / "open";
  fs::create_directories(open_dir);
  fs::permissions(open_dir, fs::perms::all);
  fs::create_symlink(copy.file, open_dir / "link.so");
  EXPECT_THAT(load_error(open_dir / "link.so"),
              HasSubstr("refused: " + open_dir.string() + " is writable by every user"));
}

TEST(PluginTrust, AMissingDriverErrorNamesTheRefusedFileAndTheFix) {
  PluginCopy copy;
  fs::permissions(copy.file, fs::perms::others_write, fs::perm_options::add);
  auto catalog = std::make_shared<PluginCatalog>(std::vector<fs::path>{copy.plugins});
  PluginDriverFactory factory(catalog, nullptr, quiet_logger(), copy.dir.path());
  try {
    factory.make(connection("r", "recorder"));
    FAIL() << "a world-writable plugin was used";
  } catch (const PluginException& e) {
    const std::string p = copy.file.string();
    EXPECT_THAT(e.what(), HasSubstr("driver `recorder` of connection `r` is not available"));
    EXPECT_THAT(e.what(), HasSubstr("; " + p + ": refused: " + p +
                                    " is writable by every user, who could replace the plugin; "
                                    "fix: chmod o-w " + p));
  }
  ASSERT_EQ(catalog->problems().size(), 1u);
  EXPECT_TRUE(catalog->problems()[0].untrusted);
}

}  // namespace untrusted

// A plugin that fills the whole error buffer without a NUL: the host reads exactly the buffer
// (1024 bytes), never past it. Without the bound the message ran on into the bytes after the
// buffer on the stack (ASan: stack-buffer-overflow).
TEST(DriverInstance, AnUnterminatedErrorBufferIsReadOnlyUpToItsCapacity) {
  TempDir dir;
  auto plugin = Plugin::load(fixture("unterminated_error"));
  const std::string tail_create(1024, 'c');
  try {
    DriverInstance instance(plugin,
                            connection("c", "unterminated-error", toml::table{{"fail_create", 1}}),
                            nullptr, quiet_logger(), dir.path().string());
    FAIL() << "create should have failed";
  } catch (const DriverException& e) {
    EXPECT_EQ(std::string(e.what()), "test.toml:3:1: connection `c` (driver `unterminated-error`): "
                                     "cannot start: " + tail_create);
  }
  try {
    validate_connection(*plugin,
                        connection("v", "unterminated-error", toml::table{{"fail_validate", 1}}),
                        "/");
    FAIL() << "validate should have failed";
  } catch (const ConfigException& e) {
    EXPECT_EQ(std::string(e.what()),
              "test.toml:3:1: connection `v` (driver `unterminated-error`): " +
                  std::string(1024, 'v'));
  }
  DriverInstance instance(plugin, connection("p", "unterminated-error"), nullptr, quiet_logger(),
                          dir.path().string());
  for (std::size_t topics : {1u, 20u}) {  // the small-publish path and the large one
    std::vector<std::string_view> t(topics, "t");
    std::vector<std::string_view> m{"m"};
    try {
      instance.publish(Texts(t), Texts(m));
      FAIL() << "publish should have failed";
    } catch (const DriverException& e) {
      EXPECT_EQ(std::string(e.what()),
                "connection `p` (driver `unterminated-error`): publish failed: " +
                    std::string(1024, 'p'));
    }
  }
}

TEST(DriverInstance, PluginErrorTextIsBoundedAndOneLine) {
  const char full[4] = {'a', 'b', 'c', 'd'};  // no NUL
  EXPECT_EQ(plugin_error_text(full, sizeof full), "abcd");
  EXPECT_EQ(plugin_error_text("a\nb\rc", 16), "a b c");
  EXPECT_EQ(plugin_error_text("", 16), "no reason given by the driver");
  EXPECT_EQ(plugin_error_text(nullptr, 16), "no reason given by the driver");
}

}  // namespace
}  // namespace herald
