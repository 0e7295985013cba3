#include "logging/logging.hpp"

#include <chrono>

#include <fmt/chrono.h>
#include <spdlog/pattern_formatter.h>
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

namespace {

void append_json_string(spdlog::string_view_t text, spdlog::memory_buf_t& out) {
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"': out.append(std::string_view("\\\"")); break;
      case '\\': out.append(std::string_view("\\\\")); break;
      case '\n': out.append(std::string_view("\\n")); break;
      case '\r': out.append(std::string_view("\\r")); break;
      case '\t': out.append(std::string_view("\\t")); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        else
          out.push_back(c);
    }
  }
  out.push_back('"');
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        msg.time.time_since_epoch()) % 1000;
    fmt::format_to(std::back_inserter(dest), "{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}.{:03d}Z\",\"level\":",
                   fmt::gmtime(std::chrono::system_clock::to_time_t(msg.time)),
                   static_cast<int>(ms.count()));
    append_json_string(spdlog::level::to_string_view(msg.level), dest);
    dest.append(std::string_view(",\"logger\":"));
    append_json_string(msg.logger_name, dest);
    dest.append(std::string_view(",\"message\":"));
    append_json_string(msg.payload, dest);
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

void use_json_format(spdlog::logger& logger) {
  logger.set_formatter(std::make_unique<JsonFormatter>());
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
