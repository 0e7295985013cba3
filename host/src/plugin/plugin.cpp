#include "plugin/plugin.hpp"

#include <dlfcn.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <boost/dll/library_info.hpp>

#include "core/errors.hpp"

namespace herald {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw PluginException(path.string() + ": " + what);
}

// Boost.DLL resets dlerror() before reporting, leaving only "Bad file descriptor"; ask the
// dynamic loader once more so the user learns the real reason (missing dependency, ...).
std::string dlopen_reason(const std::filesystem::path& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) {
    ::dlclose(handle);
    return "the dynamic loader refused it";
  }
  const char* reason = ::dlerror();
  return reason != nullptr ? reason : "unknown dlopen error";
}

bool valid_name(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  for (const char* p = name; *p != '\0'; ++p) {
    const char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return std::strlen(name) <= 64;
}

std::string owner_name(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buffer[1024];
  if (::getpwuid_r(uid, &pw, buffer, sizeof buffer, &found) == 0 && found != nullptr)
    return "uid " + std::to_string(uid) + " (" + found->pw_name + ")";
  return "uid " + std::to_string(uid);
}

// One path: `strict` for the plugin file and its directory (never writable by every user),
// otherwise a directory above them (writable by every user only when sticky, as /tmp).
std::optional<std::string> path_problem(const std::filesystem::path& path, bool strict,
                                        unsigned uid) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;  // gone: opening it will say so
  const std::string p = path.string();
  if (st.st_uid != 0 && st.st_uid != uid)
    return p + " is owned by " + owner_name(st.st_uid) + ", not root or the user running herald (" +
           owner_name(uid) + "), who could replace the plugin; fix: chown root " + p;
  const bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0;
  if ((st.st_mode & S_IWOTH) != 0 && (strict || !sticky_dir))
    return p + " is writable by every user, who could replace the plugin; fix: chmod o-w " + p;
  return std::nullopt;
}

// `path` strictly, then its parents up to / leniently.
std::optional<std::string> chain_problem(const std::filesystem::path& path, int strict_levels,
                                         unsigned uid) {
  std::filesystem::path p = path;
  for (int level = 0;; ++level) {
    if (auto problem = path_problem(p, level < strict_levels, uid)) return problem;
    if (!p.has_relative_path()) return std::nullopt;  // reached the root
    p = p.parent_path();
  }
}

}  // namespace

std::optional<std::string> plugin_path_problem(const std::filesystem::path& path,
                                               unsigned running_uid) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool is_dir = fs::is_directory(path, ec);
  // A file is judged with its directory (both strict); a directory alone.
  const int strict = is_dir ? 1 : 2;
  // Where it points: every component resolved.
  const fs::path real = fs::canonical(path, ec);
  if (ec) return std::nullopt;  // missing: the caller reports that
  if (auto problem = chain_problem(real, strict, running_uid)) return problem;
  // Where it is: a symlink's own directory could swap the link (the link itself has no mode).
  const fs::path absolute = fs::absolute(path, ec).lexically_normal();
  if (!ec && absolute != real) {
    const fs::path where = fs::canonical(absolute.parent_path(), ec);
    if (!ec)
      if (auto problem = chain_problem(where, is_dir ? 0 : 1, running_uid)) return problem;
  }
  return std::nullopt;
}

std::string abi_version_string(std::uint32_t version) {
  return std::to_string(HERALD_ABI_VERSION_MAJOR(version)) + "." +
         std::to_string(HERALD_ABI_VERSION_MINOR(version));
}

std::string PluginInfo::abi_string() const { return abi_version_string(abi_version); }

namespace {

// Before anything is read: a readable regular file that only trusted users can replace.
void check_file(const std::filesystem::path& path) {
  std::error_code fs_error;
  if (!std::filesystem::is_regular_file(path, fs_error)) {
    fail(path, std::filesystem::exists(path, fs_error) ? "cannot be opened: not a regular file"
                                                       : "cannot be opened: no such file");
  }
  if (!std::ifstream(path).good()) fail(path, "cannot be opened: permission denied");
  // Untrusted: whoever can write the file or its directory could run code as herald.
  if (auto problem = plugin_path_problem(path, static_cast<unsigned>(::geteuid())))
    fail(path, "refused: " + *problem);
}

// Not a driver: read the export table without running any of the plugin's code.
void check_exports_probe(const std::filesystem::path& path) {
  try {
    boost::dll::library_info elf(path, /*throw_if_not_native=*/true);
    std::vector<std::string> symbols = elf.symbols();
    if (std::find(symbols.begin(), symbols.end(), HERALD_ABI_PROBE_SYMBOL) == symbols.end())
      fail(path, "not a Herald driver (it does not export " HERALD_ABI_PROBE_SYMBOL ")");
  } catch (const PluginException&) {
    throw;
  } catch (const std::exception&) {
    fail(path, "cannot be opened: not a shared library for this platform");
  }
}

// The ABI the opened library was built for; a mismatch fails. The probe's signature is frozen
// across every ABI major.
std::uint32_t check_abi(const std::filesystem::path& path,
                        const boost::dll::shared_library& library) {
  if (!library.has(HERALD_ABI_PROBE_SYMBOL))
    fail(path, "not a Herald driver (it does not export " HERALD_ABI_PROBE_SYMBOL ")");
  auto probe = library.get<std::uint32_t()>(HERALD_ABI_PROBE_SYMBOL);
  const std::uint32_t abi = probe();
  const std::uint32_t major = HERALD_ABI_VERSION_MAJOR(abi);
  const std::uint32_t minor = HERALD_ABI_VERSION_MINOR(abi);
  if (major == HERALD_ABI_MAJOR && minor <= HERALD_ABI_MINOR) return abi;
  // "ABI 1.0" while there is one minor, "ABI 1.0 to 1.3" once there are several.
  const std::string supported =
      HERALD_ABI_MINOR == 0
          ? abi_version_string(HERALD_ABI_VERSION)
          : std::to_string(HERALD_ABI_MAJOR) + ".0 to " + abi_version_string(HERALD_ABI_VERSION);
  const std::string advice =
      major == HERALD_ABI_MAJOR
          ? "upgrade herald, or rebuild the plugin against Herald SDK " +
                abi_version_string(HERALD_ABI_VERSION)
          : "rebuild the plugin against Herald SDK " + std::to_string(HERALD_ABI_MAJOR) + ".x";
  fail(path, "built for driver ABI " + abi_version_string(abi) + ", this herald supports ABI " +
                 supported + "; " + advice);
}

// The library's descriptor, zero-filled past what it declares, with the required fields checked.
herald_driver_descriptor read_descriptor(const std::filesystem::path& path,
                                         const boost::dll::shared_library& library) {
  if (!library.has(HERALD_DESCRIPTOR_SYMBOL))
    fail(path, "bad descriptor: it does not export " HERALD_DESCRIPTOR_SYMBOL);
  auto get_descriptor = library.get<const herald_driver_descriptor*()>(HERALD_DESCRIPTOR_SYMBOL);
  const herald_driver_descriptor* declared = get_descriptor();
  if (declared == nullptr)
    fail(path, "bad descriptor: " HERALD_DESCRIPTOR_SYMBOL "() returned NULL");
  if (declared->struct_size < HERALD_DESCRIPTOR_MIN_SIZE)
    fail(path, "bad descriptor: struct_size is " + std::to_string(declared->struct_size) +
                   " bytes, ABI 1.0 needs at least " + std::to_string(HERALD_DESCRIPTOR_MIN_SIZE));
  // A newer minor may declare a larger struct; copy only what both sides know.
  herald_driver_descriptor d{};
  std::memcpy(&d, declared,
              std::min<std::size_t>(declared->struct_size, sizeof(herald_driver_descriptor)));
  d.struct_size = sizeof(herald_driver_descriptor);
  if (!valid_name(d.name))
    fail(path, "bad descriptor: the driver name must be 1-64 characters of [a-z0-9_-]");
  if (d.version == nullptr || *d.version == '\0')
    fail(path, "bad descriptor: `version` is missing (required)");
  if (d.create == nullptr) fail(path, "bad descriptor: `create` is NULL (required)");
  if (d.destroy == nullptr) fail(path, "bad descriptor: `destroy` is NULL (required)");
  if (d.publish == nullptr) fail(path, "bad descriptor: `publish` is NULL (required)");
  return d;
}

PluginInfo describe(const std::filesystem::path& path, const herald_driver_descriptor& d,
                    std::uint32_t abi) {
  PluginInfo info;
  info.name = d.name;
  info.version = d.version;
  info.description = d.description != nullptr ? d.description : "";
  info.abi_version = abi;
  info.path = path;
  info.can_authorize = d.authorize != nullptr;
  info.can_validate = d.validate != nullptr;
  // Fields past the plugin's struct_size were not copied, so they read as NULL here.
  info.can_report_health = d.health != nullptr;
  info.can_report_metrics = d.metrics != nullptr;
  return info;
}

}  // namespace

std::shared_ptr<Plugin> Plugin::load(const std::filesystem::path& path) {
  check_file(path);
  check_exports_probe(path);
  // Only now is the library opened (and its static initializers run).
  auto plugin = std::shared_ptr<Plugin>(new Plugin());
  boost::dll::fs::error_code ec;
  plugin->library_.load(path, ec,
                        boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  if (ec) fail(path, "cannot be opened: " + dlopen_reason(path));
  const std::uint32_t abi = check_abi(path, plugin->library_);
  plugin->descriptor_ = read_descriptor(path, plugin->library_);
  plugin->info_ = describe(path, plugin->descriptor_, abi);
  return plugin;
}

}  // namespace herald
