// A C driver written from <herald/driver.h> alone (fixtures/c_from_header_only.c, built as
// strict C99 with only the SDK's include directory) loads into the real `herald` binary and
// publishes through it: issue 9's "a C driver written from driver.h alone builds and loads".
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <herald/driver.h>

#include "cli_test_support.hpp"
#include "test_files.hpp"

namespace herald::cli_test {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::SizeIs;
using testing_support::copy_to;
using testing_support::read_file;
using testing_support::split_lines;
using testing_support::TempDir;
using testing_support::write_file;

const fs::path kHerald = HERALD_TEST_BINARY;
const fs::path kFixture =
    fs::path(HERALD_TEST_FIXTURE_DIR) / "herald_fixture_c_from_header_only.so";


class CDriverFromHeaderOnly : public ::testing::Test {
 protected:
  CDriverFromHeaderOnly() { plugin_ = copy_to(kFixture, dir_ / "plugins" / kFixture.filename()); }

  // A config whose default connection `c` uses the fixture with `settings`.
  fs::path Config(const std::string& settings) {
    return write_file(dir_ / "broadcasting.toml",
                      "default = \"c\"\nplugin_dirs = [\"plugins\"]\n\n"
                      "[connections.c]\ndriver = \"c-header-only\"\n" +
                          settings);
  }

  ProcessResult Herald(const std::vector<std::string>& args) {
    RunOptions options;
    options.cwd = dir_.path();
    return RunProcess(kHerald, args, options);
  }

  TempDir dir_;
  fs::path plugin_;
};


TEST_F(CDriverFromHeaderOnly, LoadsWithTheNameVersionAndAbiItDeclares) {
  const fs::path config = Config("file = \"out.txt\"\n");
  const ProcessResult r = Herald({"--config", config.string(), "drivers"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto lines = split_lines(r.out);
  ASSERT_THAT(lines, SizeIs(::testing::Ge(2u))) << Describe(r);
  const std::string abi = std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR);
  // plugin_dirs come before the built-in directory: the fixture is the first row.
  EXPECT_THAT(Columns(lines[1]),
              ElementsAre("c-header-only", "0.9.1", abi, "publish", plugin_.string()));
  EXPECT_EQ(r.err, "");
}

TEST_F(CDriverFromHeaderOnly, PublishesEveryMessageToEveryTopic) {
  const fs::path config = Config("file = \"out.txt\"\n");
  const ProcessResult r = Herald(
      {"--config", config.string(), "publish", "order.1", "order.2", "-m", "hello", "-m", "{}"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  // Relative to the config file's directory: the driver joined it with herald_config.base_dir.
  EXPECT_EQ(read_file(dir_ / "out.txt"), "order.1|hello\norder.1|{}\norder.2|hello\norder.2|{}\n");
}

TEST_F(CDriverFromHeaderOnly, ItsErrorReachesTheUserAsOneLine) {
  const fs::path config = Config("file = \"out.txt\"\nrefuse = \"boom\"\n");
  const ProcessResult r =
      Herald({"--config", config.string(), "publish", "t", "-m", "fine", "-m", "boom"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_EQ(r.err,
            "herald: connection `c` (driver `c-header-only`): publish failed: refused message "
            "`boom`\n");
  EXPECT_FALSE(fs::exists(dir_ / "out.txt"));  // refused before anything was written
}

TEST_F(CDriverFromHeaderOnly, ItsValidateRefusesABadSettingForCheck) {
  const fs::path config = Config("refuse = \"boom\"\n");  // no `file`
  const ProcessResult r = Herald({"--config", config.string(), "check"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(r.err, "herald: " + config.string() +
                       ":4:1: connection `c` (driver `c-header-only`): `file` is required: the "
                       "file every publish is appended to\n");
}

// HERALD_E_CONFIG from `create` is a configuration error for `publish` too: exit 2, not 1.
TEST_F(CDriverFromHeaderOnly, ItsCreateRefusesABadSettingWithExitTwo) {
  const fs::path config = Config("");  // no `file`
  const ProcessResult r = Herald({"--config", config.string(), "publish", "t", "-m", "m"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(r.err, "herald: " + config.string() +
                       ":4:1: connection `c` (driver `c-header-only`): cannot start: `file` is "
                       "required: the file every publish is appended to\n");
}

}  // namespace
}  // namespace herald::cli_test
