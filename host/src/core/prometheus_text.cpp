#include "core/prometheus_text.hpp"

#include <array>
#include <charconv>
#include <map>
#include <set>
#include <vector>

namespace herald {
namespace {

constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF) without control
// characters other than tab.
bool valid_utf8_text(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t n = 0;
    unsigned min = 0;
    unsigned cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1, min = 0x80, cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2, min = 0x800, cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3, min = 0x10000, cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0u) != 0x80u) return false;
      cp = (cp << 6) | (d & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp <= 0x9f) return false;  // C1 controls
    i += n + 1;
  }
  return true;
}

// Length of the metric name at the start of `s` ([a-zA-Z_:][a-zA-Z0-9_:]*), 0 when none.
size_t metric_name_length(std::string_view s) {
  if (s.empty() || !(is_alpha(s[0]) || s[0] == '_' || s[0] == ':')) return 0;
  size_t i = 1;
  while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == ':')) ++i;
  return i;
}

size_t label_name_length(std::string_view s) {
  if (s.empty() || !(is_alpha(s[0]) || s[0] == '_')) return 0;
  size_t i = 1;
  while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_')) ++i;
  return i;
}

std::string_view skip_blanks(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_blank(s[i])) ++i;
  return s.substr(i);
}

// The next blank-separated token of `s`, removed from it.
std::string_view next_token(std::string_view& s) {
  s = skip_blanks(s);
  size_t i = 0;
  while (i < s.size() && !is_blank(s[i])) ++i;
  std::string_view token = s.substr(0, i);
  s = s.substr(i);
  return token;
}

bool valid_value(std::string_view v) {
  if (v == "NaN" || v == "+Inf" || v == "-Inf" || v == "Inf") return true;
  if (!v.empty() && v[0] == '+') v.remove_prefix(1);
  if (v.empty()) return false;
  double d = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  return ec == std::errc() && end == v.data() + v.size();
}

bool valid_timestamp(std::string_view v) {
  if (!v.empty() && v[0] == '-') v.remove_prefix(1);
  if (v.empty()) return false;
  for (char c : v)
    if (!is_digit(c)) return false;
  return true;
}

// Why `line` (no '\n', valid UTF-8) is not a line of the format, or empty when it is.
std::string line_problem(std::string_view line) {
  if (line[0] == '#') {
    std::string_view rest = line.substr(1);
    if (rest.empty() || !is_blank(rest[0])) return {};  // a comment
    const std::string_view keyword = next_token(rest);
    if (keyword != "HELP" && keyword != "TYPE") return {};  // a comment
    const std::string_view name = next_token(rest);
    if (name.empty() || metric_name_length(name) != name.size())
      return "`# " + std::string(keyword) + "` without a valid metric name";
    if (keyword == "TYPE") {
      const std::string_view type = next_token(rest);
      static constexpr std::array<std::string_view, 5> kTypes = {"counter", "gauge", "histogram",
                                                                 "summary", "untyped"};
      bool known = false;
      for (auto t : kTypes) known = known || t == type;
      if (!known || !skip_blanks(rest).empty())
        return "`# TYPE " + std::string(name) + "` with an unknown type";
    }
    return {};
  }
  const size_t name = metric_name_length(line);
  if (name == 0) return "a sample without a valid metric name";
  std::string_view rest = line.substr(name);
  if (!rest.empty() && rest[0] == '{') {
    rest.remove_prefix(1);
    for (;;) {
      rest = skip_blanks(rest);
      if (!rest.empty() && rest[0] == '}') break;
      const size_t label = label_name_length(rest);
      if (label == 0) return "a sample with a bad label name";
      rest = skip_blanks(rest.substr(label));
      if (rest.size() < 2 || rest[0] != '=') return "a sample with a label without a value";
      rest = skip_blanks(rest.substr(1));
      if (rest.empty() || rest[0] != '"') return "a sample with an unquoted label value";
      size_t i = 1;
      while (i < rest.size() && rest[i] != '"') i += rest[i] == '\\' ? 2 : 1;
      if (i >= rest.size()) return "a sample with an unterminated label value";
      rest = skip_blanks(rest.substr(i + 1));
      if (!rest.empty() && rest[0] == ',') {
        rest.remove_prefix(1);
        continue;
      }
      if (rest.empty() || rest[0] != '}') return "a sample with unbalanced label braces";
      break;
    }
    rest.remove_prefix(1);  // '}'
  }
  if (rest.empty() || !is_blank(rest[0])) return "a sample without a value";
  const std::string_view value = next_token(rest);
  if (!valid_value(value)) return "a sample with a bad value";
  const std::string_view timestamp = next_token(rest);
  if (!timestamp.empty() && !valid_timestamp(timestamp)) return "a sample with a bad timestamp";
  if (!skip_blanks(rest).empty()) return "a sample with extra text after its value";
  return {};
}

// Each line of `text` without its '\n' (a last line without one included).
template <class F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    const size_t end = text.find('\n');
    f(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

}  // namespace

CheckedMetricsText check_metrics_text(std::string_view text) {
  CheckedMetricsText out;
  out.text.reserve(text.size() + 1);
  for_each_line(text, [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;
    std::string problem = valid_utf8_text(line)
                              ? line_problem(line)
                              : "a line that is not UTF-8 text or holds control characters";
    if (!problem.empty()) {
      if (out.dropped++ == 0) out.first_problem = std::move(problem);
      return;
    }
    out.text.append(line).push_back('\n');
  });
  return out;
}

std::string merge_metrics_texts(std::span<const std::string_view> texts) {
  struct Family {
    std::string_view help, type;
    std::vector<std::string_view> samples;
  };
  // A HELP/TYPE line's metric name, or empty for other lines.
  auto declared_name = [](std::string_view line, std::string_view* keyword) -> std::string_view {
    if (line.size() < 2 || line[0] != '#' || !is_blank(line[1])) return {};
    std::string_view rest = line.substr(1);
    *keyword = next_token(rest);
    if (*keyword != "HELP" && *keyword != "TYPE") return {};
    return next_token(rest);
  };

  std::set<std::string_view, std::less<>> declared;
  for (std::string_view text : texts)
    for_each_line(text, [&](std::string_view line) {
      std::string_view keyword;
      if (std::string_view name = declared_name(line, &keyword); !name.empty())
        declared.insert(name);
    });

  std::vector<Family> families;
  std::map<std::string_view, size_t, std::less<>> index;
  auto family = [&](std::string_view name) -> Family& {
    auto [it, added] = index.try_emplace(name, families.size());
    if (added) families.emplace_back();
    return families[it->second];
  };
  auto family_of_sample = [&](std::string_view name) -> std::string_view {
    if (declared.count(name) != 0) return name;
    for (std::string_view suffix : {"_bucket", "_sum", "_count", "_created", "_total"}) {
      if (name.size() > suffix.size() && name.ends_with(suffix)) {
        const std::string_view base = name.substr(0, name.size() - suffix.size());
        if (declared.count(base) != 0) return base;
      }
    }
    return name;
  };

  size_t size = 0;
  for (std::string_view text : texts) {
    size += text.size() + 1;
    for_each_line(text, [&](std::string_view line) {
      if (line.empty()) return;
      if (line[0] == '#') {
        std::string_view keyword;
        const std::string_view name = declared_name(line, &keyword);
        if (name.empty()) return;  // another comment: dropped
        Family& f = family(name);
        std::string_view& slot = keyword == "HELP" ? f.help : f.type;
        if (slot.empty()) slot = line;
        return;
      }
      size_t end = 0;
      while (end < line.size() && line[end] != '{' && !is_blank(line[end])) ++end;
      family(family_of_sample(line.substr(0, end))).samples.push_back(line);
    });
  }

  std::string out;
  out.reserve(size);
  auto put = [&out](std::string_view line) { out.append(line).push_back('\n'); };
  for (const Family& f : families) {
    if (!f.help.empty()) put(f.help);
    if (!f.type.empty()) put(f.type);
    for (std::string_view sample : f.samples) put(sample);
  }
  return out;
}

}  // namespace herald
