#include "config/config_locator.hpp"

#include "core/errors.hpp"
#include "plugin/plugin_catalog.hpp"

namespace herald {

std::vector<std::filesystem::path> default_config_candidates() {
  std::vector<std::filesystem::path> out{"config/broadcasting.toml"};
  if (auto installed = path_next_to_executable(std::filesystem::path(HERALD_CONFIG_INSTALL_DIR) /
                                               "broadcasting.toml");
      !installed.empty())
    out.push_back(installed);
  out.emplace_back("/etc/herald/broadcasting.toml");
  return out;
}

bool has_default_config() {
  for (const auto& candidate : default_config_candidates()) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) return true;
  }
  return false;
}

std::filesystem::path locate_config(const std::optional<std::string>& explicit_path,
                                    const std::optional<std::string>& env_path) {
  if (explicit_path && !explicit_path->empty()) return *explicit_path;
  if (env_path && !env_path->empty()) return *env_path;
  std::string tried;
  for (const auto& candidate : default_config_candidates()) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    tried += (tried.empty() ? "" : ", ") + candidate.string();
  }
  throw ConfigException("no configuration file found (tried " + tried +
                        "); pass --config PATH or set HERALD_CONFIG");
}

}  // namespace herald
