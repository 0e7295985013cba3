// Where something was written in a configuration file, for error messages.
#pragma once

#include <cstdint>
#include <string>

namespace herald {

struct SourcePosition {
  std::string file;      // as the user named it (not made absolute)
  std::uint32_t line = 0;    // 1-based; 0 = unknown
  std::uint32_t column = 0;  // 1-based; 0 = unknown

  // "file:line:col", "file:line" or "file"; empty when nothing is known.
  std::string str() const {
    // append, not operator+: GCC 12's -Wrestrict misfires on `":" + std::to_string(..)` at -O3.
    std::string s = file;
    if (line != 0) s.append(1, ':').append(std::to_string(line));
    if (line != 0 && column != 0) s.append(1, ':').append(std::to_string(column));
    return s;
  }
  // The message prefixed with "file:line:col: " when a position is known.
  std::string prefix(const std::string& message) const {
    std::string where = str();
    return where.empty() ? message : where + ": " + message;
  }
};

}  // namespace herald
