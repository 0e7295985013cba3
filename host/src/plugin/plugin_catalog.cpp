#include "plugin/plugin_catalog.hpp"

#include <unistd.h>

#include <algorithm>

#include "core/errors.hpp"
#include "core/executable_path.hpp"

namespace herald {

PluginCatalog::PluginCatalog(std::vector<std::filesystem::path> dirs) : dirs_(std::move(dirs)) {}

void PluginCatalog::scan_locked() {
  if (scanned_) return;
  for (const auto& dir : dirs_) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;  // a missing dir is not an error
    // A directory anyone may write to could gain a plugin at any time: none is loaded from it.
    if (auto problem = plugin_path_problem(dir, static_cast<unsigned>(::geteuid()))) {
      problems_.push_back({dir, dir.string() + ": plugin directory refused: " + *problem, false,
                           true});
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".so") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // deterministic order within a directory
    for (const auto& file : files) {
      if (auto problem = plugin_path_problem(file, static_cast<unsigned>(::geteuid()))) {
        problems_.push_back({file, file.string() + ": refused: " + *problem, false, true});
        continue;
      }
      try {
        auto canonical = std::filesystem::weakly_canonical(file);
        std::shared_ptr<Plugin> plugin;
        if (auto it = by_path_.find(canonical); it != by_path_.end()) {
          plugin = it->second;
        } else {
          plugin = Plugin::load(file);
          by_path_.emplace(canonical, plugin);
        }
        if (auto [it, inserted] = by_name_.emplace(plugin->info().name, plugin); !inserted) {
          if (it->second != plugin)
            problems_.push_back({file,
                                 file.string() + ": driver `" + plugin->info().name +
                                     "` is shadowed by " + it->second->info().path.string(),
                                 true});
          continue;
        }
        plugins_.push_back(plugin);
      } catch (const std::exception& e) {  // PluginException, or a filesystem error
        problems_.push_back({file, e.what()});
      }
    }
  }
  scanned_ = true;
}

std::shared_ptr<Plugin> PluginCatalog::find(std::string_view name) {
  std::lock_guard lock(mutex_);
  scan_locked();
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::shared_ptr<Plugin> PluginCatalog::load(const std::filesystem::path& path) {
  std::lock_guard lock(mutex_);
  auto canonical = std::filesystem::weakly_canonical(path);
  if (auto it = by_path_.find(canonical); it != by_path_.end()) return it->second;
  auto plugin = Plugin::load(path);
  by_path_.emplace(canonical, plugin);
  return plugin;
}

std::vector<std::shared_ptr<Plugin>> PluginCatalog::plugins() {
  std::lock_guard lock(mutex_);
  scan_locked();
  return plugins_;
}

std::vector<PluginCatalog::Problem> PluginCatalog::problems() {
  std::lock_guard lock(mutex_);
  scan_locked();
  return problems_;
}

std::string PluginCatalog::dirs_string() const {
  std::string s = "[";
  for (size_t i = 0; i < dirs_.size(); ++i) s += (i ? ", " : "") + dirs_[i].string();
  return s + "]";
}

std::vector<std::filesystem::path> plugin_search_path(
    const std::vector<std::filesystem::path>& cli_dirs, const std::string& env_path,
    const std::vector<std::filesystem::path>& config_dirs) {
  std::vector<std::filesystem::path> out;
  auto add = [&out](std::filesystem::path p) {
    if (p.empty()) return;
    p = std::filesystem::absolute(p).lexically_normal();
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
  };
  for (const auto& d : cli_dirs) add(d);
  size_t start = 0;
  while (start <= env_path.size()) {
    size_t end = env_path.find(':', start);
    if (end == std::string::npos) end = env_path.size();
    add(env_path.substr(start, end - start));
    start = end + 1;
  }
  for (const auto& d : config_dirs) add(d);
  add(path_next_to_executable(HERALD_PLUGIN_INSTALL_DIR));
  return out;
}

}  // namespace herald
