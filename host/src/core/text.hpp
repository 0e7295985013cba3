// Small ASCII text helpers shared by the host (locale-independent on purpose).
#pragma once

#include <string>
#include <string_view>

namespace herald {

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Case-insensitive ASCII equality (HTTP header names, level names).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string ascii_lower(std::string_view s);

// Keeps error messages on one line: control bytes are shown as \xNN.
std::string printable(std::string_view s);

}  // namespace herald
