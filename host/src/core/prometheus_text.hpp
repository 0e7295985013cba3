// The Prometheus text format (0.0.4) as `GET /metrics` combines it: checking text that comes
// from plugins (untrusted) and merging several texts into one valid exposition.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace herald {

struct CheckedMetricsText {
  std::string text;          // the kept lines, each ending in '\n'
  std::size_t dropped = 0;   // lines left out (not UTF-8, control bytes, not the format)
  std::string first_problem; // why the first dropped line was left out (for one log line)
};

// Keeps the lines of `text` that are valid UTF-8 without control bytes (tab aside) and look
// like the format: `# HELP name ...`, `# TYPE name counter|gauge|histogram|summary|untyped`,
// another `# ...` comment, or a sample `name{labels} value [timestamp]` with a valid metric
// name and balanced, quoted label values. Empty lines and '\r' before '\n' are dropped
// silently; a last line without '\n' is kept (and ended).
CheckedMetricsText check_metrics_text(std::string_view text);

// Merges expositions into one where every metric family appears once: its first `# HELP`,
// its first `# TYPE`, then all its samples from every text, in order. Families keep the order
// in which they first appear. A sample belongs to the family declared (HELP/TYPE) under its
// name, else under its name less `_bucket`, `_sum`, `_count`, `_created` or `_total`, else to a
// family of its own name. Other comments are dropped. Pure; the texts should have passed
// check_metrics_text (the host's own text is trusted).
std::string merge_metrics_texts(std::span<const std::string_view> texts);

}  // namespace herald
