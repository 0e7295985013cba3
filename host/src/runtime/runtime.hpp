// Everything a host process needs, wired from one config file: the config, the topic rules,
// the plugin catalog, the driver factory and the connection manager. Embedders use this too.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <herald/driver.h>
#include <spdlog/spdlog.h>

#include "auth/topic_registry.hpp"
#include "broadcast/broadcast_manager.hpp"
#include "config/broadcast_config.hpp"
#include "plugin/plugin_catalog.hpp"
#include "plugin/plugin_driver_factory.hpp"

namespace herald {

struct RuntimeOptions {
  std::filesystem::path config_file;
  std::vector<std::filesystem::path> plugin_dirs;  // --plugin-dir, searched first
  EnvLookup env = process_env();                   // BROADCAST_*, HERALD_PLUGIN_PATH, ${VAR}
  std::shared_ptr<spdlog::logger> logger;          // default: host_logger()
  // What driver instances are told they run in (ABI 1.2 herald_host_api.role): SERVER for
  // `herald serve` (drivers may start listeners), CLIENT for one-shot commands and embedders.
  herald_role role = HERALD_ROLE_CLIENT;
};

class Runtime {
 public:
  // Loads the config and compiles the topic rules; plugins load lazily. Throws
  // ConfigException.
  explicit Runtime(RuntimeOptions options);

  BroadcastManager& manager() noexcept { return *manager_; }
  // Register C++ callbacks here before serving; the config's rules come first.
  TopicRegistry& topics() noexcept { return *topics_; }
  PluginCatalog& catalog() noexcept { return *catalog_; }
  PluginDriverFactory& factory() noexcept { return *factory_; }
  const BroadcastConfig& config() const noexcept { return *config_; }
  spdlog::logger& logger() noexcept { return *logger_; }
  const std::shared_ptr<spdlog::logger>& shared_logger() const noexcept { return logger_; }
  herald_role role() const noexcept { return factory_->role(); }

  // Validates without publishing (`herald check`): the default connection resolves, and every
  // connection's driver names a loadable plugin that accepts its settings. Returns one line
  // per problem; empty means OK.
  std::vector<std::string> check();

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<const BroadcastConfig> config_;
  std::shared_ptr<TopicRegistry> topics_;
  std::shared_ptr<PluginCatalog> catalog_;
  std::shared_ptr<PluginDriverFactory> factory_;
  std::unique_ptr<BroadcastManager> manager_;
};

}  // namespace herald
