// Status / Expected<T>: how every fallible Kiln call reports failure. Nothing throws across the
// API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kiln {

/// What went wrong, coarsely; the message says exactly what and where.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,  ///< caller passed something malformed (bad dims, unknown name, ...)
  kUnsupported,      ///< valid request that this build/backend cannot do
  kShapeError,       ///< shapes inconsistent, or outside the optimization profile
  kTypeError,        ///< wrong data type
  kOutOfMemory,      ///< host or device allocation failed
  kCorruptPlan,      ///< plan bytes truncated, altered or otherwise unreadable
  kVersionMismatch,  ///< plan written by an incompatible format version
  kIoError,          ///< file could not be read or written
  kBackendError,     ///< CUDA / cuBLASLt / cuDNN / NVRTC reported an error
  kNotFound,         ///< named tensor, backend or entry does not exist
  kInternal,         ///< a bug in Kiln
};

std::string_view status_code_name(StatusCode code);

/// A success or an error code plus a message of the form "[component] what happened".
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "ShapeError: [component] message" (or "OK").
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

/// Builds an error status whose message starts with "[component] ".
Status make_error(StatusCode code, std::string_view component, std::string_view message);

/// A value or the Status explaining why there is none.
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Expected(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok())
      status_ = Status(StatusCode::kInternal, "[status] Expected built from OK status");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace kiln

/// Returns the status from the enclosing function if `expr` is an error.
#define KILN_RETURN_IF_ERROR(expr)                       \
  do {                                                   \
    ::kiln::Status kiln_status_tmp_ = (expr);            \
    if (!kiln_status_tmp_.ok()) return kiln_status_tmp_; \
  } while (0)

/// Evaluates `expr` (an Expected<T>): returns its Status from the enclosing function (which
/// returns Status or any Expected<U>) if it is an error, else moves the value into `lhs`, a
/// declaration (`auto x`) or an existing variable. Expands to several statements: not usable as
/// the unbraced body of an if or loop.
#define KILN_ASSIGN_OR_RETURN(lhs, ...)                                                  \
  KILN_ASSIGN_OR_RETURN_IMPL_(KILN_STATUS_CONCAT_(kiln_expected_tmp_, __COUNTER__), lhs, \
                              __VA_ARGS__)

#define KILN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, ...) \
  auto tmp = (__VA_ARGS__);                        \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

#define KILN_STATUS_CONCAT_(a, b) KILN_STATUS_CONCAT_IMPL_(a, b)
#define KILN_STATUS_CONCAT_IMPL_(a, b) a##b
