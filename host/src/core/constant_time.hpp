// Comparison of secrets (signatures, API keys, header values) without a timing side channel.
#pragma once

#include <string_view>

namespace herald {

// Equality that takes the same time for every input of a given length pair.
bool constant_time_equals(std::string_view a, std::string_view b) noexcept;

}  // namespace herald
