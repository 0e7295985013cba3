// Fuzz target: topic patterns (`order.{id}`, `[...]` optional parts) compiled and matched.
// Input: lines; the first two are patterns, the rest topics matched against them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_request.hpp"
#include "auth/topic_registry.hpp"
#include "auth/topic_rules.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 512) return 0;  // patterns are short config strings; keeps runs fast
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  herald::TopicRegistry registry;
  for (std::size_t i = 0; i < lines.size() && i < 2; ++i) {
    try {
      registry.register_topic(lines[i], [](const herald::AuthRequest&, const herald::TopicMatch& m) {
        return !m.topic.empty();
      });
    } catch (const std::exception&) {
    }
  }
  herald::AuthRequest request;
  for (std::size_t i = 2; i < lines.size(); ++i) {
    herald::TopicMatch match;
    (void)registry.authorize(request, lines[i], &match);
    (void)herald::substitute_params(lines[i], match);
  }
  if (lines.size() == 1) {  // one line: matched against itself
    herald::TopicMatch match;
    (void)registry.authorize(request, lines[0], &match);
  }
  return 0;
}
