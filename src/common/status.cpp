// Status helpers.
#include "kiln/status.h"

#include <array>

namespace kiln {

std::string_view status_code_name(StatusCode code) {
  static constexpr std::array<std::string_view, 12> kNames = {
      "OK",          "InvalidArgument", "Unsupported", "ShapeError",   "TypeError", "OutOfMemory",
      "CorruptPlan", "VersionMismatch", "IoError",     "BackendError", "NotFound",  "Internal"};
  auto i = static_cast<size_t>(code);
  return i < kNames.size() ? kNames[i] : "Unknown";
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status make_error(StatusCode code, std::string_view component, std::string_view message) {
  std::string m;
  m.reserve(component.size() + message.size() + 3);
  m += '[';
  m += component;
  m += "] ";
  m += message;
  return {code, std::move(m)};
}

}  // namespace kiln
