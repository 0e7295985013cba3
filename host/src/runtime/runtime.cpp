#include "runtime/runtime.hpp"

#include "core/errors.hpp"
#include "logging/logging.hpp"
#include "plugin/driver_instance.hpp"

namespace herald {

Runtime::Runtime(RuntimeOptions options)
    : logger_(options.logger ? options.logger : host_logger()),
      config_(std::make_shared<const BroadcastConfig>(
          BroadcastConfig::load(options.config_file, options.env))),
      topics_(std::make_shared<TopicRegistry>()) {
  register_topic_rules(*topics_, config_->topics());
  catalog_ = std::make_shared<PluginCatalog>(plugin_search_path(
      options.plugin_dirs, options.env("HERALD_PLUGIN_PATH").value_or(""), config_->plugin_dirs()));
  factory_ = std::make_shared<PluginDriverFactory>(catalog_, topics_, logger_, config_->base_dir(),
                                                   options.role);
  manager_ = std::make_unique<BroadcastManager>(config_, factory_);
}

std::vector<std::string> Runtime::check() {
  std::vector<std::string> problems;
  try {
    const std::string name = manager_->resolve({});
    const auto names = config_->connection_names();
    if (std::find(names.begin(), names.end(), name) == names.end())
      config_->connection_config(name);  // throws Spiral's "not defined" message
  } catch (const BroadcastException& e) {
    problems.emplace_back(e.what());
  }
  for (const auto& name : config_->connection_names()) {
    try {
      ConnectionConfig connection = config_->connection_config(name);
      auto plugin = factory_->plugin_for(connection);
      validate_connection(*plugin, connection, config_->base_dir().string());
    } catch (const BroadcastException& e) {
      problems.emplace_back(e.what());
    }
  }
  return problems;
}

}  // namespace herald
