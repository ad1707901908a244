// Logger: one sink for every message Kiln emits. Level from KILN_LOG_LEVEL unless set explicitly.
#pragma once

#include <string_view>

namespace kiln {

enum class Severity : uint8_t { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };

/// Implement to route Kiln's messages elsewhere. Must be thread-safe.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(Severity severity, std::string_view message) = 0;
};

/// Writes "[kiln W] message" lines to stderr for messages at or below the level in KILN_LOG_LEVEL
/// (error|warning|info|verbose, or 0-3; default warning).
Logger& default_logger();

/// Level parsed from KILN_LOG_LEVEL (kWarning when unset or unparsable).
Severity log_level_from_env();

/// True if a message of `severity` passes the KILN_LOG_LEVEL filter.
bool log_enabled(Severity severity);

}  // namespace kiln
