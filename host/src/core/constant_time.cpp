#include "core/constant_time.hpp"

#include <cstddef>

namespace herald {

bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
  // Walk the longer input in full and fold differences into one accumulator; the volatile store
  // keeps the compiler from turning the loop into an early-exit comparison.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

}  // namespace herald
