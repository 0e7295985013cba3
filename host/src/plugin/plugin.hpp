// A loaded driver plugin: the shared object plus a validated copy of its descriptor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <herald/driver.h>
#include <boost/dll/shared_library.hpp>

namespace herald {

struct PluginInfo {
  std::string name;
  std::string version;
  std::string description;
  std::uint32_t abi_version = 0;  // as the plugin was built (HERALD_ABI_VERSION packing)
  std::filesystem::path path;
  bool can_authorize = false;
  bool can_validate = false;
  bool can_report_health = false;   // ABI 1.1 `health`
  bool can_report_metrics = false;  // ABI 1.2 `metrics`

  std::string abi_string() const;  // "1.0"
};

class Plugin {
 public:
  // Loads and validates `path`, checking in this order (each failure one line naming the
  // file, thrown as PluginException): cannot be opened, untrusted (plugin_path_problem for the
  // running user), not a driver, cannot be opened by the loader, ABI mismatch, bad descriptor.
  // No plugin code runs before the library is opened.
  static std::shared_ptr<Plugin> load(const std::filesystem::path& path);

  const PluginInfo& info() const noexcept { return info_; }
  // The host's zero-filled copy: fields the plugin did not declare are NULL.
  const herald_driver_descriptor& descriptor() const noexcept { return descriptor_; }

  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

 private:
  Plugin() = default;

  boost::dll::shared_library library_;
  herald_driver_descriptor descriptor_{};
  PluginInfo info_;
};

// Why a plugin file or directory must not be loaded from, as ssh and sudo judge a path, or
// nullopt when it is safe: `path` itself (and, for a file, the directory holding it) must be
// owned by root or `running_uid` and not writable by every user; every directory above it must
// be owned by root or `running_uid` and, when writable by every user, sticky (as /tmp: nobody
// can rename another user's entry there). Symlinks are judged where they point and where they
// are. The reason is one line naming the path and the fix (chmod o-w / chown).
std::optional<std::string> plugin_path_problem(const std::filesystem::path& path,
                                               unsigned running_uid);

// "1.0" from a packed ABI version.
std::string abi_version_string(std::uint32_t version);

}  // namespace herald
