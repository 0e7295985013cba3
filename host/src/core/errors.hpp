// Exception types of the host library, mirroring Spiral's BroadcastException hierarchy.
#pragma once

#include <stdexcept>
#include <string>

namespace herald {

// Base of every error the library throws (Spiral: BroadcastException).
class BroadcastException : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input: unusable arguments or configuration (Spiral: InvalidArgumentException).
class InvalidArgumentException : public BroadcastException {
 public:
  using BroadcastException::BroadcastException;
};

// The configuration is unusable; what() is one line, prefixed with "file:line:col: " when a
// position is known. The CLI maps it to exit code 2.
class ConfigException : public InvalidArgumentException {
 public:
  using InvalidArgumentException::InvalidArgumentException;
};

// A plugin could not be found, opened or accepted (also exit code 2).
class PluginException : public ConfigException {
 public:
  using ConfigException::ConfigException;
};

// A driver failed at run time (publish/authorize returned an error). Exit code 1.
class DriverException : public BroadcastException {
 public:
  DriverException(const std::string& message, int status)
      : BroadcastException(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

}  // namespace herald
