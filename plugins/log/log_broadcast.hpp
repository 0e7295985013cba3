// Spiral's LogBroadcast: one log record per message,
// "Broadcasting on channels [a, b] with payload: <message>", at a configured level.
// Header-only so unit tests can use it without loading the plugin.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

namespace herald::drivers {

class LogBroadcast {
 public:
  LogBroadcast(std::shared_ptr<spdlog::logger> logger,
               spdlog::level::level_enum level = spdlog::level::info)
      : logger_(std::move(logger)), level_(level) {}

  void publish(std::span<const std::string_view> topics,
               std::span<const std::string_view> messages) const {
    if (messages.empty() || !logger_->should_log(level_)) return;
    // Formatted in one pass per record: no intermediate string, no allocation of our own.
    for (std::string_view message : messages)
      logger_->log(level_, "Broadcasting on channels [{}] with payload: {}",
                   fmt::join(topics.begin(), topics.end(), ", "), message);
  }

  spdlog::level::level_enum level() const noexcept { return level_; }
  const std::shared_ptr<spdlog::logger>& logger() const noexcept { return logger_; }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  spdlog::level::level_enum level_;
};

// Spiral passes PSR-3 level names; spdlog's own names are accepted too.
inline bool parse_log_level(std::string_view name, spdlog::level::level_enum& out) {
  struct Name {
    std::string_view name;
    spdlog::level::level_enum level;
  };
  static constexpr Name kNames[] = {
      {"trace", spdlog::level::trace},        {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},          {"notice", spdlog::level::info},
      {"warning", spdlog::level::warn},       {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},          {"err", spdlog::level::err},
      {"critical", spdlog::level::critical},  {"alert", spdlog::level::critical},
      {"emergency", spdlog::level::critical},
  };
  for (const Name& n : kNames) {
    if (n.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = n.name[i] == ((name[i] >= 'A' && name[i] <= 'Z') ? char(name[i] + 32) : name[i]);
    if (same) {
      out = n.level;
      return true;
    }
  }
  return false;
}

}  // namespace herald::drivers
