// Which configuration file to use when none is named.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace herald {

// The config file: `explicit_path` (--config) or `env_path` (HERALD_CONFIG) when given, even
// if missing (loading then reports it); else the first that exists of
// ./config/broadcasting.toml, installed_config_file(), /etc/herald/broadcasting.toml.
// Throws ConfigException naming every place tried when none exists.
std::filesystem::path locate_config(const std::optional<std::string>& explicit_path,
                                    const std::optional<std::string>& env_path);

// Where the install rules put the config for this binary: <exe>/../etc/herald/broadcasting.toml,
// except /etc/herald/broadcasting.toml for a binary in /usr/bin. Empty when the binary's own
// path is unknown.
std::filesystem::path installed_config_file();

// The places locate_config() tries, in order, without duplicates.
std::vector<std::filesystem::path> default_config_candidates();

// True when one of default_config_candidates() exists.
bool has_default_config();

}  // namespace herald
