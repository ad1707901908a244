// Text names of the layer-parameter enums (text IR, messages).
#include <array>
#include <string_view>

#include "ir/op_table.h"
#include "kiln/layers.h"

namespace kiln {
namespace {
using SV = std::string_view;

constexpr std::array<SV, kNumBinaryOps> kBinary = {
    "add",       "sub", "mul",  "div", "pow",     "max",    "min",    "floor_div",
    "trunc_div", "mod", "fmod", "eq",  "ne",      "lt",     "le",     "gt",
    "ge",        "and", "or",   "xor", "bit_and", "bit_or", "bit_xor"};
constexpr std::array<SV, kNumUnaryOps> kUnary = {
    "identity", "abs",     "neg",          "exp",        "log",      "sqrt",  "rsqrt", "reciprocal",
    "sin",      "cos",     "tan",          "tanh",       "erf",      "floor", "ceil",  "round",
    "sign",     "not",     "relu",         "leaky_relu", "elu",      "selu",  "gelu",  "gelu_tanh",
    "silu",     "sigmoid", "hard_sigmoid", "hard_swish", "softplus", "mish",  "clamp", "log1p",
    "expm1",    "atan",    "asin",         "acos",       "sinh",     "cosh",  "log2",  "isnan"};
constexpr std::array<SV, kNumPoolingTypes> kPooling = {"max", "avg"};
constexpr std::array<SV, kNumReduceOps> kReduce = {"sum",    "mean", "max", "min", "prod", "argmax",
                                                   "argmin", "var",  "std", "any", "all"};
constexpr std::array<SV, kNumPadModes> kPad = {"constant", "reflect", "replicate", "circular"};
constexpr std::array<SV, kNumResizeModes> kResize = {"nearest", "nearest_exact", "linear", "cubic"};
constexpr std::array<SV, kNumScatterReduces> kScatter = {"none", "add", "mul", "max", "min"};
constexpr std::array<SV, kNumGridSampleModes> kGridMode = {"bilinear", "nearest", "bicubic"};
constexpr std::array<SV, kNumGridSamplePaddings> kGridPad = {"zeros", "border", "reflection"};
constexpr std::array<SV, kNumFillModes> kFillMode = {"constant", "uniform", "normal", "integer"};
constexpr std::array<SV, kNumDataTypes> kDType = {"f32", "f16",  "bf16",   "i32", "i64", "i8",
                                                  "u8",  "bool", "f8e4m3", "f64", "i16"};

}  // namespace

std::span<const SV> enum_names(BinaryOp) { return kBinary; }
std::span<const SV> enum_names(UnaryOp) { return kUnary; }
std::span<const SV> enum_names(PoolingType) { return kPooling; }
std::span<const SV> enum_names(ReduceOp) { return kReduce; }
std::span<const SV> enum_names(PadMode) { return kPad; }
std::span<const SV> enum_names(ResizeMode) { return kResize; }
std::span<const SV> enum_names(ScatterReduce) { return kScatter; }
std::span<const SV> enum_names(GridSampleMode) { return kGridMode; }
std::span<const SV> enum_names(GridSamplePadding) { return kGridPad; }
std::span<const SV> enum_names(FillMode) { return kFillMode; }
std::span<const SV> enum_names(DataType) { return kDType; }

namespace ir {
std::optional<OpKind> parse_op_name(std::string_view name) {
  for (const OpInfo& info : kOpTable)
    if (info.name == name) return info.kind;
  return std::nullopt;
}
}  // namespace ir

}  // namespace kiln
