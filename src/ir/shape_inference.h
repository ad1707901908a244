// Type/shape inference for every op, used both at network-build time (dims may be -1, tracked
// values partially known) and at run time (all dims concrete, tracked values fully known).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::ir {

struct InferInput {
  const TensorType* type = nullptr;   ///< nullptr for an omitted optional input
  const ShapeValue* value = nullptr;  ///< tracked values, if any
  bool present() const { return type != nullptr; }
};

struct InferResult {
  std::vector<TensorType> types;
  std::vector<std::optional<ShapeValue>> values;  ///< same size as types
};

/// Infers output types (and tracked values) of `layer`. Errors are kShapeError/kTypeError with a
/// message "[ir.shape] layer '<label>': ...".
Expected<InferResult> infer_layer(const Layer& layer, std::span<const InferInput> inputs,
                                  const std::string& label);

/// Whether a tensor of this type has its values tracked.
bool is_trackable(const TensorType& t);

// ---- per-family inference (one function per op; registered in shape_inference.cpp)
// ------------------ Each returns an error status whose message describes the problem (the caller
// adds the layer label).
using InferFn = Status (*)(const Layer&, std::span<const InferInput>, InferResult&);
/// Computes tracked output values from tracked input values (entries may be kUnknownValue).
using ValueFn = void (*)(const Layer&, std::span<const InferInput>, InferResult&);

// helpers shared by the per-family files
Status shape_error(std::string msg);
Status type_error(std::string msg);
/// Normalizes a possibly negative axis against `rank`; error names `what`.
Expected<int> normalize_axis(int64_t axis, int rank, const char* what);
/// Numpy broadcasting of two dims lists (-1 aware).
Expected<Dims> broadcast_dims(const Dims& a, const Dims& b);
/// Product of the known values or -1.
int64_t dim_product(const Dims& d, int begin, int end);
std::string dims_str(const Dims& d);
/// std::to_string, short for the messages.
std::string s(int64_t v);
/// Both dims known and different.
bool known_and_differ(int64_t a, int64_t b);

}  // namespace kiln::ir
