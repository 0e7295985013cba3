// The host's logger (spdlog, to stderr) shared by the host and, through the ABI, by drivers.
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/spdlog.h>

namespace herald {

// The process-wide "herald" logger; created on first use.
std::shared_ptr<spdlog::logger> host_logger();

// Switches `logger` to one JSON object per line: {"time","level","logger","message"}.
void use_json_format(spdlog::logger& logger);

// Parses trace|debug|info|warn|warning|error|critical|off (case-insensitive).
bool parse_log_level(std::string_view name, spdlog::level::level_enum& out);

}  // namespace herald
