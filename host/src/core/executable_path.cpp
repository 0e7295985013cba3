#include "core/executable_path.hpp"

#include <system_error>

namespace herald {

std::filesystem::path path_next_to_executable(const std::filesystem::path& relative) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path().parent_path() / relative).lexically_normal();
}

}  // namespace herald
