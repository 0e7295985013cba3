#include "logging/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include "core/text.hpp"

namespace herald {

std::shared_ptr<spdlog::logger> host_logger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("herald",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::warn);
    return l;
  }();
  return logger;
}

bool parse_log_level(std::string_view name, spdlog::level::level_enum& out) {
  std::string lower = ascii_lower(name);
  if (lower == "warn") lower = "warning";  // spdlog spells them "warning" and "error"
  if (lower == "err") lower = "error";
  for (int l = spdlog::level::trace; l <= spdlog::level::off; ++l) {
    const auto level = static_cast<spdlog::level::level_enum>(l);
    if (spdlog::level::to_string_view(level) == lower) {
      out = level;
      return true;
    }
  }
  return false;
}

}  // namespace herald
