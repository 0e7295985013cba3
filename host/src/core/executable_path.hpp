// Paths relative to the installed `herald` binary (the config and plugin directories).
#pragma once

#include <filesystem>

namespace herald {

// <dir of the running executable>/../<relative>, or empty when unknown.
std::filesystem::path path_next_to_executable(const std::filesystem::path& relative);

}  // namespace herald
