// One Prometheus text-format family with a single sample, for a driver's `metrics` entry point
// (the host merges and checks what drivers write: docs/sdk.md). Header-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herald::plugins {

// Appends "# HELP name help", "# TYPE name type" and "name<labels> value". `labels` is the
// whole label set with its braces, e.g. {connection="ws"}, or empty.
inline void append_family(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help, std::string_view labels, std::uint64_t value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += labels;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace herald::plugins
