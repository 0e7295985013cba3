// Finds driver plugins: every *.so in the search directories, known by the name it declares.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "plugin/plugin.hpp"

namespace herald {

class PluginCatalog {
 public:
  // Directories in priority order: the first plugin declaring a name wins.
  explicit PluginCatalog(std::vector<std::filesystem::path> dirs);

  // The plugin declaring `name`, or nullptr. Scans the directories on first use.
  std::shared_ptr<Plugin> find(std::string_view name);
  // Loads a plugin by path (cached per canonical path). Throws PluginException.
  std::shared_ptr<Plugin> load(const std::filesystem::path& path);

  // A .so in a search directory that could not be used, with the one-line reason.
  struct Problem {
    std::filesystem::path path;
    std::string error;
    bool shadowed = false;  // a valid plugin hidden by an earlier one of the same name
    bool untrusted = false;  // refused by plugin_path_problem (world-writable, foreign owner)
  };
  std::vector<std::shared_ptr<Plugin>> plugins();  // in discovery order
  std::vector<Problem> problems();
  const std::vector<std::filesystem::path>& dirs() const noexcept { return dirs_; }

  // "[/a, /b]" for messages.
  std::string dirs_string() const;

 private:
  void scan_locked();

  std::vector<std::filesystem::path> dirs_;
  std::mutex mutex_;
  bool scanned_ = false;
  std::vector<std::shared_ptr<Plugin>> plugins_;
  std::map<std::string, std::shared_ptr<Plugin>, std::less<>> by_name_;
  std::map<std::filesystem::path, std::shared_ptr<Plugin>> by_path_;
  std::vector<Problem> problems_;
};

// The plugin search path: `cli_dirs` (--plugin-dir), then HERALD_PLUGIN_PATH (':'-separated),
// then the config's plugin_dirs, then the directory installed next to the binary
// (<exe>/../lib/herald/plugins). Duplicates are dropped.
std::vector<std::filesystem::path> plugin_search_path(
    const std::vector<std::filesystem::path>& cli_dirs, const std::string& env_path,
    const std::vector<std::filesystem::path>& config_dirs);

}  // namespace herald
