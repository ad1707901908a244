// Default stderr logger filtered by KILN_LOG_LEVEL.
#include "kiln/logger.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace kiln {
namespace {

class StderrLogger final : public Logger {
 public:
  void log(Severity severity, std::string_view message) override {
    if (!log_enabled(severity)) return;
    static constexpr char kTags[] = {'E', 'W', 'I', 'V'};
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(stderr, "[kiln %c] %.*s\n", kTags[static_cast<int>(severity) & 3],
                 static_cast<int>(message.size()), message.data());
  }

 private:
  std::mutex mu_;
};

}  // namespace

Severity log_level_from_env() {
  const char* v = std::getenv("KILN_LOG_LEVEL");
  if (v == nullptr) return Severity::kWarning;
  std::string s(v);
  if (s == "error" || s == "0") return Severity::kError;
  if (s == "warning" || s == "1") return Severity::kWarning;
  if (s == "info" || s == "2") return Severity::kInfo;
  if (s == "verbose" || s == "debug" || s == "3") return Severity::kVerbose;
  return Severity::kWarning;
}

bool log_enabled(Severity severity) {
  static const Severity level = log_level_from_env();
  return static_cast<int>(severity) <= static_cast<int>(level);
}

Logger& default_logger() {
  static StderrLogger logger;
  return logger;
}

}  // namespace kiln
