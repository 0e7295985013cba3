// Topic patterns are compiled to a flat token list (the registry key) and then to a tiny Pike
// VM program. Topics come from untrusted clients, so matching must neither recurse per input byte
// (std::regex does) nor backtrack: `{a}-{b}-{c}` against a long topic full of `-` costs O(n^3) in
// a backtracking matcher. The Pike VM keeps PCRE's leftmost-greedy priorities, so it extracts the
// same parameters Spiral's preg_match would, in O(topic * pattern) time and without recursion.

#include "auth/topic_registry.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <mutex>

#include "core/errors.hpp"
#include "core/text.hpp"

namespace herald {

namespace {

bool is_word(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF), as PCRE's /u flag checks it.
bool valid_utf8(std::string_view s) noexcept {
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// A parameter may only end between two characters, never inside a multi-byte one (PCRE /u
// matches characters, so `{a}{b}` never splits "é").
bool at_char_boundary(std::string_view s, size_t pos) noexcept {
  return pos >= s.size() || (static_cast<unsigned char>(s[pos]) & 0xc0) != 0x80;
}

struct Token {
  enum class Kind : std::uint8_t { literal, param, open, close };
  Kind kind;
  std::string text;  // literal bytes as written, or the parameter name
  bool operator==(const Token&) const = default;
};

enum class Op : std::uint8_t { byte, segment, split, save, boundary, match };

struct Inst {
  Op op;
  char byte = 0;        // Op::byte: expected byte, ASCII-lowercased
  std::uint32_t x = 0;  // split: preferred target; save: capture slot
  std::uint32_t y = 0;  // split: other target
};

// One way through the epsilon instructions (split, save, boundary) to a consuming instruction
// or Match, with the capture slots it sets on the way.
struct Path {
  std::uint32_t target;
  std::uint32_t saves_begin;  // into CompiledPattern::save_slots_
  std::uint32_t saves_end;
};

constexpr size_t kUnset = std::numeric_limits<size_t>::max();

class CompiledPattern {
 public:
  explicit CompiledPattern(std::string_view pattern) {
    tokenize(pattern);
    compile();
  }

  const std::vector<Token>& tokens() const noexcept { return tokens_; }

  // Anchored, ASCII case-insensitive match of a valid UTF-8 topic. Fills `out` on success.
  bool match(std::string_view topic, TopicMatch& out) const;

 private:
  [[noreturn]] static void invalid(std::string_view pattern, const std::string& reason) {
    throw InvalidArgumentException("invalid topic pattern `" + printable(pattern) + "`: " + reason);
  }

  void tokenize(std::string_view p);
  void compile();
  std::vector<Path> closure(std::uint32_t start, bool at_boundary);
  std::uint32_t emit(Inst inst) {
    program_.push_back(inst);
    return static_cast<std::uint32_t>(program_.size() - 1);
  }

  std::vector<Token> tokens_;
  std::vector<std::string> names_;  // parameters in pattern order; capture slots 2i, 2i+1
  std::vector<Inst> program_;
  // closures_[at char boundary][pc]: the paths from pc in priority order, precomputed so the
  // matcher's inner loop neither recurses nor keeps a stack. Only resume points are filled.
  std::vector<std::vector<Path>> closures_[2];
  std::vector<std::uint32_t> save_slots_;
  size_t min_length_ = 0;
  size_t max_length_ = 0;  // kUnset when the pattern has a parameter
};

// Syntax: `{name}` or `{name:constraint}` is a parameter, `[...]` an optional part (may nest),
// everything else is literal. Spiral leaves other regex metacharacters unescaped; Herald treats
// them as literals. Spiral parses a constraint but never applies it; Herald does the same.
void CompiledPattern::tokenize(std::string_view p) {
  if (p.empty()) invalid(p, "empty pattern");
  if (!valid_utf8(p)) invalid(p, "not valid UTF-8");
  auto column = [](size_t i) { return std::to_string(i + 1); };
  std::vector<size_t> open_brackets;
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '{') {
      size_t j = i + 1;
      while (j < p.size() && is_word(p[j])) ++j;
      const std::string_view name = p.substr(i + 1, j - i - 1);
      if (j < p.size() && p[j] == ':') {
        // Braces nest inside a constraint so `{id:\d{2}}` stays one parameter.
        int depth = 1;
        for (++j; j < p.size(); ++j) {
          if (p[j] == '{') ++depth;
          if (p[j] == '}' && --depth == 0) break;
        }
      }
      if (j >= p.size()) invalid(p, "unterminated `{` at column " + column(i));
      if (p[j] != '}') {
        invalid(p, "invalid character `" + printable(p.substr(j, 1)) + "` in parameter at column " +
                       column(j) + " (names are letters, digits and `_`)");
      }
      if (name.empty()) invalid(p, "empty parameter name at column " + column(i));
      if (name[0] >= '0' && name[0] <= '9') {
        invalid(p, "parameter name `" + std::string(name) + "` starts with a digit");
      }
      for (const auto& existing : names_) {
        if (existing == name) invalid(p, "duplicate parameter `" + std::string(name) + "`");
      }
      names_.emplace_back(name);
      tokens_.push_back({Token::Kind::param, std::string(name)});
      i = j + 1;
    } else if (c == '[') {
      open_brackets.push_back(i);
      tokens_.push_back({Token::Kind::open, {}});
      ++i;
    } else if (c == ']') {
      if (open_brackets.empty()) invalid(p, "unbalanced `]` at column " + column(i));
      open_brackets.pop_back();
      tokens_.push_back({Token::Kind::close, {}});
      ++i;
    } else {
      if (tokens_.empty() || tokens_.back().kind != Token::Kind::literal) {
        tokens_.push_back({Token::Kind::literal, {}});
      }
      tokens_.back().text += c;
      ++i;
    }
  }
  if (!open_brackets.empty()) {
    invalid(p, "unbalanced `[` at column " + column(open_brackets.back()));
  }
}

void CompiledPattern::compile() {
  std::vector<std::uint32_t> open_splits;
  bool has_param = false;
  std::uint32_t param = 0;
  for (const Token& t : tokens_) {
    switch (t.kind) {
      case Token::Kind::literal:
        for (char c : t.text) emit({Op::byte, ascii_lower(c)});
        if (open_splits.empty()) min_length_ += t.text.size();
        max_length_ += t.text.size();
        break;
      case Token::Kind::param: {
        // (?P<name>[^./]+), greedy: loop back before leaving.
        emit({Op::save, 0, 2 * param});
        const std::uint32_t loop = emit({Op::segment});
        emit({Op::split, 0, loop, loop + 2});
        emit({Op::boundary});
        emit({Op::save, 0, 2 * param + 1});
        ++param;
        has_param = true;
        if (open_splits.empty()) ++min_length_;
        break;
      }
      case Token::Kind::open: {
        // (?:...)?, greedy: try the optional part first.
        const std::uint32_t split = emit({Op::split});
        program_[split].x = split + 1;
        open_splits.push_back(split);
        break;
      }
      case Token::Kind::close:
        program_[open_splits.back()].y = static_cast<std::uint32_t>(program_.size());
        open_splits.pop_back();
        break;
    }
  }
  emit({Op::match});
  if (has_param) max_length_ = kUnset;

  // Threads resume at 0 and after each consuming instruction.
  for (auto& table : closures_) table.resize(program_.size());
  for (std::uint32_t pc = 0; pc < program_.size(); ++pc) {
    const bool resume =
        pc == 0 || program_[pc - 1].op == Op::byte || program_[pc - 1].op == Op::segment;
    if (!resume) continue;
    closures_[0][pc] = closure(pc, false);
    closures_[1][pc] = closure(pc, true);
  }
}

// The depth-first walk a recursive Pike VM would do at run time (the epsilon graph is acyclic:
// every loop goes through a consuming instruction), done once here.
std::vector<Path> CompiledPattern::closure(std::uint32_t start, bool at_boundary) {
  struct Frame {
    std::uint32_t pc;
    std::vector<std::uint32_t> saves;
  };
  std::vector<Path> paths;
  std::vector<bool> seen(program_.size(), false);
  std::vector<Frame> stack;
  stack.push_back({start, {}});
  while (!stack.empty()) {
    Frame f = std::move(stack.back());
    stack.pop_back();
    if (seen[f.pc]) continue;
    seen[f.pc] = true;
    const Inst& inst = program_[f.pc];
    switch (inst.op) {
      case Op::split:
        stack.push_back({inst.y, f.saves});
        stack.push_back({inst.x, std::move(f.saves)});
        break;
      case Op::save:
        f.saves.push_back(inst.x);
        stack.push_back({f.pc + 1, std::move(f.saves)});
        break;
      case Op::boundary:
        if (at_boundary) stack.push_back({f.pc + 1, std::move(f.saves)});
        break;
      case Op::byte:
      case Op::segment:
      case Op::match: {
        const auto begin = static_cast<std::uint32_t>(save_slots_.size());
        save_slots_.insert(save_slots_.end(), f.saves.begin(), f.saves.end());
        paths.push_back({f.pc, begin, static_cast<std::uint32_t>(save_slots_.size())});
        break;
      }
    }
  }
  return paths;
}

// Threads waiting at a consuming instruction or Match, in priority order, with their captures.
// Each pc holds at most one thread per step, so the arrays never grow past the program size.
struct ThreadList {
  ThreadList(size_t program_size, size_t slots)
      : pcs(program_size), caps(program_size * slots), mark(program_size, 0) {}
  std::vector<std::uint32_t> pcs;
  std::vector<size_t> caps;  // slots per thread
  std::vector<size_t> mark;  // == generation: the pc already holds a thread this step
  size_t generation = 1;
  size_t count = 0;
};

bool CompiledPattern::match(std::string_view topic, TopicMatch& out) const {
  if (topic.size() < min_length_) return false;
  if (max_length_ != kUnset && topic.size() > max_length_) return false;

  const size_t slots = 2 * names_.size();
  ThreadList a(program_.size(), slots);
  ThreadList b(program_.size(), slots);
  auto add_threads = [&](ThreadList& list, std::uint32_t start, size_t pos, const size_t* caps) {
    for (const Path& path : closures_[at_char_boundary(topic, pos) ? 1 : 0][start]) {
      // A higher-priority thread already holds this pc: PCRE would have tried it first.
      if (list.mark[path.target] == list.generation) continue;
      list.mark[path.target] = list.generation;
      size_t* dst = list.caps.data() + list.count * slots;
      std::copy(caps, caps + slots, dst);
      for (auto k = path.saves_begin; k < path.saves_end; ++k) dst[save_slots_[k]] = pos;
      list.pcs[list.count++] = path.target;
    }
  };

  const std::vector<size_t> unset(slots, kUnset);
  ThreadList* current = &a;
  ThreadList* next = &b;
  add_threads(*current, 0, 0, unset.data());
  for (size_t pos = 0;; ++pos) {
    if (current->count == 0) return false;
    if (pos == topic.size()) break;
    const char c = ascii_lower(topic[pos]);
    next->count = 0;
    next->generation = current->generation + 1;
    for (size_t t = 0; t < current->count; ++t) {
      const std::uint32_t pc = current->pcs[t];
      const Inst& inst = program_[pc];
      const bool step = (inst.op == Op::byte && inst.byte == c) ||
                        (inst.op == Op::segment && c != '.' && c != '/');
      if (step) add_threads(*next, pc + 1, pos + 1, current->caps.data() + t * slots);
    }
    std::swap(current, next);
  }

  // Anchored end: the highest-priority thread that reached Match at the end wins.
  for (size_t t = 0; t < current->count; ++t) {
    if (program_[current->pcs[t]].op != Op::match) continue;
    const size_t* cap = current->caps.data() + t * slots;
    out.topic.assign(topic);
    out.params.clear();
    out.groups.clear();
    // A parameter in an optional part that did not take part is absent (PCRE would report ""
    // for it, or drop it when it is among the trailing groups).
    for (size_t k = 0; k < names_.size(); ++k) {
      if (cap[2 * k] == kUnset || cap[2 * k + 1] == kUnset) continue;
      std::string value(topic.substr(cap[2 * k], cap[2 * k + 1] - cap[2 * k]));
      out.params.emplace_back(names_[k], value);
      out.groups.push_back(std::move(value));
    }
    return true;
  }
  return false;
}

}  // namespace

const std::string* TopicMatch::param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return &value;
  }
  return nullptr;
}

struct TopicRegistry::Entry {
  CompiledPattern compiled;
  // Shared so authorize() can run a (possibly slow) callback without holding the lock.
  std::shared_ptr<const TopicCallback> callback;
};

TopicRegistry::TopicRegistry() = default;
TopicRegistry::~TopicRegistry() = default;

TopicRegistry::TopicRegistry(TopicRegistry&& other) noexcept {
  std::unique_lock lock(other.mutex_);
  entries_ = std::move(other.entries_);
}

TopicRegistry& TopicRegistry::operator=(TopicRegistry&& other) noexcept {
  if (this != &other) {
    std::scoped_lock lock(mutex_, other.mutex_);
    entries_ = std::move(other.entries_);
  }
  return *this;
}

void TopicRegistry::register_topic(std::string_view pattern, TopicCallback callback) {
  if (!callback) {
    throw InvalidArgumentException("empty callback for topic pattern `" + printable(pattern) + "`");
  }
  CompiledPattern compiled(pattern);  // throws before we take the lock
  auto shared = std::make_shared<const TopicCallback>(std::move(callback));
  std::shared_ptr<const TopicCallback> replaced;  // destroyed after unlocking
  std::unique_lock lock(mutex_);
  for (auto& entry : entries_) {
    // Spiral keys patterns by their compiled regex: same key, same position, new callback.
    if (entry->compiled.tokens() == compiled.tokens()) {
      replaced = std::exchange(entry->callback, std::move(shared));
      return;
    }
  }
  entries_.push_back(std::make_unique<Entry>(Entry{std::move(compiled), std::move(shared)}));
}

TopicDecision TopicRegistry::authorize(const AuthRequest& request, std::string_view topic,
                                       TopicMatch* match_out) const {
  TopicMatch local;
  TopicMatch& match = match_out != nullptr ? *match_out : local;
  match = TopicMatch{};
  // Spiral's /u flag: preg_match fails on malformed UTF-8, so such a topic matches nothing.
  if (!valid_utf8(topic)) return TopicDecision::no_match;
  std::shared_ptr<const TopicCallback> callback;
  {
    std::shared_lock lock(mutex_);
    for (const auto& entry : entries_) {
      if (entry->compiled.match(topic, match)) {
        callback = entry->callback;
        break;
      }
    }
  }
  if (!callback) return TopicDecision::no_match;
  try {
    if ((*callback)(request, match)) return TopicDecision::allow;
    match.verified_claims.clear();  // only an allowing rule vouches for an identity
    return TopicDecision::deny;
  } catch (...) {
    // A failing rule (bad token, unreachable webhook...) must never grant access.
    match.verified_claims.clear();
    return TopicDecision::deny;
  }
}

size_t TopicRegistry::size() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

}  // namespace herald
