// File helpers shared by the tests and the benchmarks: a throwaway directory that removes itself,
// and small whole-file read/write helpers. Header-only, no test framework needed.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace herald::testing_support {

// Writes `content` to `path` (replacing it), creating parent directories; returns `path`.
inline std::filesystem::path write_file(const std::filesystem::path& path,
                                        std::string_view content) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
  return path;
}

// Copies `from` to `to` (replacing it), creating parent directories; returns `to`.
inline std::filesystem::path copy_to(const std::filesystem::path& from,
                                     const std::filesystem::path& to) {
  if (to.has_parent_path()) std::filesystem::create_directories(to.parent_path());
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  return to;
}

// The whole file; empty when it does not exist.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "a\nb\n" -> {"a", "b"}; a last line without '\n' counts too; "" -> {}.
inline std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// The file's lines (see split_lines); empty when it does not exist.
inline std::vector<std::string> read_lines(const std::filesystem::path& path) {
  return split_lines(read_file(path));
}

// A fresh directory <base>/<prefix>-XXXXXX (base: $TMPDIR or /tmp by default), removed with
// everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "herald-test",
                   const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
    std::string pattern = (base / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& relative) const {
    return path_ / relative;
  }

  // Copies `from` to <dir>/<name> (creating subdirectories) and returns the new path.
  std::filesystem::path copy(const std::filesystem::path& from,
                             const std::filesystem::path& name) const {
    return copy_to(from, path_ / name);
  }
  // Writes `text` to <dir>/<name> (creating subdirectories) and returns the new path.
  std::filesystem::path write(const std::filesystem::path& name, std::string_view text) const {
    return write_file(path_ / name, text);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace herald::testing_support
