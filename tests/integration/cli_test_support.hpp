// Helpers for tests that run the real `herald` binary as a child process: a controlled
// environment, pipes for stdin/stdout/stderr and a timeout. Throwaway directories and file
// helpers are in tests/support/test_files.hpp.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace herald::cli_test {

// What a finished child process did.
struct ProcessResult {
  int exit_code = -1;      // -1 when it did not exit normally
  int term_signal = 0;     // the signal that ended it, 0 when it exited
  bool timed_out = false;  // killed by RunProcess after the timeout
  std::string out;         // everything written to stdout
  std::string err;         // everything written to stderr
};

struct RunOptions {
  // The child's whole environment, besides PATH (copied from this process so a plugin's
  // dependencies still resolve the same way). Nothing else of the caller's env leaks in.
  std::vector<std::pair<std::string, std::string>> env;
  std::string stdin_text;                    // written to stdin, which is then closed
  std::filesystem::path cwd;                 // empty = this process's cwd
  std::chrono::milliseconds timeout{20000};  // the child is killed after this
};

namespace detail {

inline void SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    throw std::system_error(errno, std::generic_category(), "fcntl");
}

inline void ClosePipe(int fds[2]) {
  for (int i = 0; i < 2; ++i) {
    if (fds[i] >= 0) ::close(fds[i]);
    fds[i] = -1;
  }
}

}  // namespace detail

// Runs `program args...` and collects its output. Never throws for what the child does; throws
// std::system_error only when the process cannot be started at all.
inline ProcessResult RunProcess(const std::filesystem::path& program,
                                const std::vector<std::string>& args,
                                const RunOptions& options = {}) {
  // A child that exits before reading its stdin must not kill the test with SIGPIPE.
  static const bool sigpipe_ignored = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;

  // Everything the child needs is prepared before fork(): after it, only async-signal-safe
  // calls are allowed (gtest may run threads).
  std::vector<std::string> argv_strings{program.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings;
  if (const char* path = ::getenv("PATH")) env_strings.push_back(std::string("PATH=") + path);
  for (const auto& [name, value] : options.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> argv, envp;
  for (auto& s : argv_strings) argv.push_back(s.data());
  for (auto& s : env_strings) envp.push_back(s.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  const std::string cwd = options.cwd.string();

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    detail::ClosePipe(in_pipe);
    detail::ClosePipe(out_pipe);
    detail::ClosePipe(err_pipe);
    throw std::system_error(error, std::generic_category(), "pipe2");
  }

  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    detail::ClosePipe(in_pipe);
    detail::ClosePipe(out_pipe);
    detail::ClosePipe(err_pipe);
    throw std::system_error(error, std::generic_category(), "fork");
  }
  if (pid == 0) {
    // dup2 clears O_CLOEXEC on the copies; every other descriptor closes on exec.
    if (::dup2(in_pipe[0], STDIN_FILENO) < 0 || ::dup2(out_pipe[1], STDOUT_FILENO) < 0 ||
        ::dup2(err_pipe[1], STDERR_FILENO) < 0)
      ::_exit(126);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      static const char kMessage[] = "RunProcess: chdir failed\n";
      (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
      ::_exit(126);
    }
    ::execve(argv[0], argv.data(), envp.data());
    static const char kMessage[] = "RunProcess: execve failed\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(127);
  }

  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  int to_child = in_pipe[1];
  int from_out = out_pipe[0];
  int from_err = err_pipe[0];
  detail::SetNonBlocking(to_child);
  detail::SetNonBlocking(from_out);
  detail::SetNonBlocking(from_err);

  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  size_t written = 0;
  if (options.stdin_text.empty()) {
    ::close(to_child);
    to_child = -1;
  }

  auto kill_child = [&] {
    result.timed_out = true;
    ::kill(pid, SIGKILL);
  };

  while (from_out >= 0 || from_err >= 0 || to_child >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill_child();
      break;
    }
    pollfd fds[3];
    nfds_t count = 0;
    if (from_out >= 0) fds[count++] = {from_out, POLLIN, 0};
    if (from_err >= 0) fds[count++] = {from_err, POLLIN, 0};
    if (to_child >= 0) fds[count++] = {to_child, POLLOUT, 0};
    const int ready = ::poll(fds, count, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) break;
    for (nfds_t i = 0; ready > 0 && i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == to_child) {
        const ssize_t n = ::write(to_child, options.stdin_text.data() + written,
                                  options.stdin_text.size() - written);
        if (n > 0) written += static_cast<size_t>(n);
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == options.stdin_text.size()) {
          ::close(to_child);  // EOF for the child; EPIPE: it stopped reading
          to_child = -1;
        }
        continue;
      }
      char buffer[8192];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (fds[i].fd == from_out ? result.out : result.err).append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        int& fd = fds[i].fd == from_out ? from_out : from_err;
        ::close(fd);
        fd = -1;
      }
    }
  }
  for (int fd : {to_child, from_out, from_err})
    if (fd >= 0) ::close(fd);

  // Output closed; the child may still be exiting (or hanging with its streams closed).
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, result.timed_out ? 0 : WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR)
      throw std::system_error(errno, std::generic_category(), "waitpid");
    if (done == 0 && std::chrono::steady_clock::now() >= deadline) kill_child();
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  return result;
}

// Everything a run left behind, for the message of a failed assertion.
inline std::string Describe(const ProcessResult& r) {
  return "exit " + std::to_string(r.exit_code) + ", signal " + std::to_string(r.term_signal) +
         (r.timed_out ? ", TIMED OUT" : "") + "\n--- stdout ---\n" + r.out + "--- stderr ---\n" +
         r.err + "--------------";
}

// The words of one line, split on runs of spaces (a row of `herald drivers`).
inline std::vector<std::string> Columns(const std::string& row) {
  std::vector<std::string> out;
  std::string word;
  for (char c : row + " ") {
    if (c != ' ') {
      word += c;
    } else if (!word.empty()) {
      out.push_back(std::move(word));
      word.clear();
    }
  }
  return out;
}

}  // namespace herald::cli_test
