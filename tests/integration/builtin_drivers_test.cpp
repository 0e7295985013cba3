// The shipped `log` and `null` plugins, loaded for real from the build tree.
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <herald/driver.h>

#include "core/errors.hpp"
#include "plugin/plugin.hpp"
#include "test_files.hpp"

namespace herald {
namespace {

using testing_support::TempDir;

const std::filesystem::path kPlugins = HERALD_TEST_PLUGIN_DIR;

TEST(BuiltinDrivers, NullPluginDeclaresItsNameAndIsNotAGuard) {
  auto plugin = Plugin::load(kPlugins / "herald_null.so");
  EXPECT_EQ(plugin->info().name, "null");
  EXPECT_EQ(plugin->info().abi_string(),
            std::to_string(HERALD_ABI_MAJOR) + "." + std::to_string(HERALD_ABI_MINOR));
  EXPECT_FALSE(plugin->info().can_authorize);
}

// One setting of a connection's table, as the host hands it to a driver.
struct Setting {
  std::string key, value;
  bool is_string = true;
};

// Calls the log plugin's `validate` (what `herald check` runs) or `create` on `settings`, the
// way the host does; returns the status and the driver's error text.
class LogPlugin {
 public:
  LogPlugin() : plugin_(Plugin::load(kPlugins / "herald_log.so")) {}

  std::pair<int, std::string> Validate(const std::vector<Setting>& settings) {
    Reset(settings);
    const int rc = plugin_->descriptor().validate(&config_, &err_);
    return {rc, text_};
  }
  std::pair<int, std::string> CreateAndDestroy(const std::vector<Setting>& settings) {
    Reset(settings);
    herald_host_api host{};  // sink = "file" never calls into the host
    host.struct_size = sizeof host;
    host.host_abi_version = HERALD_ABI_VERSION;
    void* instance = nullptr;
    const int rc = plugin_->descriptor().create(&host, &config_, &instance, &err_);
    if (rc == HERALD_OK) plugin_->descriptor().destroy(instance);
    return {rc, text_};
  }

  TempDir dir_;

 private:
  void Reset(const std::vector<Setting>& settings) {
    entries_.clear();
    for (const auto& s : settings)
      entries_.push_back(
          {{s.key.data(), s.key.size()}, {s.value.data(), s.value.size()}, s.is_string ? 1 : 0});
    base_dir_ = dir_.path().string();
    config_ = herald_config{};
    config_.struct_size = sizeof config_;
    config_.connection = {"log", 3};
    config_.entries = entries_.data();
    config_.entry_count = entries_.size();
    config_.base_dir = {base_dir_.data(), base_dir_.size()};
    text_[0] = '\0';
  }

  std::shared_ptr<Plugin> plugin_;
  std::vector<herald_config_entry> entries_;
  std::string base_dir_;
  herald_config config_{};
  char text_[1024];
  herald_error err_{sizeof(herald_error), text_, sizeof text_};
};

using Result = std::pair<int, std::string>;

TEST(BuiltinDrivers, LogPluginRefusesEachBadSettingWithItsReason) {
  LogPlugin log;
  EXPECT_EQ(log.Validate({{"level", "loud"}}),
            Result(HERALD_E_CONFIG,
                   "`level` is `loud`; expected trace, debug, info, notice, warning, error or "
                   "critical"));
  EXPECT_EQ(log.Validate({{"level", "3", false}}),
            Result(HERALD_E_CONFIG, "`level` must be a string"));
  EXPECT_EQ(log.Validate({{"sink", "syslog"}}),
            Result(HERALD_E_CONFIG, "`sink` is `syslog`; expected stdout, stderr, file or host"));
  EXPECT_EQ(log.Validate({{"sink", "file"}}),
            Result(HERALD_E_CONFIG, "`path` is required when sink = \"file\""));
  EXPECT_EQ(log.Validate({{"flush", "yes"}}), Result(HERALD_E_CONFIG, "`flush` must be a boolean"));
  // `create` refuses the same way, so `herald publish` agrees with `herald check`.
  EXPECT_EQ(log.CreateAndDestroy({{"sink", "file"}}),
            Result(HERALD_E_CONFIG, "`path` is required when sink = \"file\""));
}

TEST(BuiltinDrivers, LogPluginValidatesAGoodConfigWithoutSideEffects) {
  LogPlugin log;
  const std::vector<Setting> settings{
      {"level", "warning"}, {"sink", "file"}, {"path", "out.log"}, {"flush", "true", false}};
  EXPECT_EQ(log.Validate(settings), Result(HERALD_OK, ""));
  // validate must not touch the file system (`herald check` opens nothing) ...
  EXPECT_FALSE(std::filesystem::exists(log.dir_ / "out.log"));
  // ... while create opens the file, relative to the config's directory.
  EXPECT_EQ(log.CreateAndDestroy(settings), Result(HERALD_OK, ""));
  EXPECT_TRUE(std::filesystem::exists(log.dir_ / "out.log"));
}

}  // namespace
}  // namespace herald
