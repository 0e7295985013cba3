#include "config/config_locator.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "core/executable_path.hpp"

namespace herald {

std::filesystem::path installed_config_file() {
  const std::filesystem::path relative =
      std::filesystem::path(HERALD_CONFIG_INSTALL_DIR) / "broadcasting.toml";
  auto beside = path_next_to_executable(relative);  // <prefix>/etc/herald/broadcasting.toml
  // The prefix /usr keeps its config in /etc (GNU sysconfdir rule), and so do the install
  // rules and the .deb (packaging/install-layout.cmake.in).
  if (!beside.empty() && beside == std::filesystem::path("/usr") / relative)
    return std::filesystem::path("/") / relative;
  return beside;
}

std::vector<std::filesystem::path> default_config_candidates() {
  std::vector<std::filesystem::path> out{"config/broadcasting.toml"};
  auto add = [&out](std::filesystem::path p) {
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end())
      out.push_back(std::move(p));
  };
  add(installed_config_file());
  add("/etc/herald/broadcasting.toml");
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
