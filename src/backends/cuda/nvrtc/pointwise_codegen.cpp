// Source generation for fused pointwise kernels. The generated code needs no header (NVRTC compiles
// it alone): half / bfloat16 conversions are PTX cvt instructions, the math is CUDA's built-in
// library. The float semantics of every op follow kernels/pointwise.cu and kernels/unary_ops.cuh.
#include "backends/cuda/nvrtc/pointwise_codegen.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "common/element_access.h"

namespace kiln::cuda::nvrtc {
namespace {

// Storage kinds of the generated code (template St<K>).
int storage_kind(DataType dt) {
  switch (dt) {
    case DataType::kFloat32:
      return 0;
    case DataType::kFloat16:
      return 1;
    case DataType::kBFloat16:
      return 2;
    case DataType::kBool:
      return 3;
    default:
      return -1;
  }
}

bool is_float_kind(DataType dt) {
  int k = storage_kind(dt);
  return k >= 0 && k <= 2;
}

const DataType& dtype_of(const ir::Graph& g, int32_t t) {
  return g.tensors[static_cast<size_t>(t)].type.dtype;
}

// A float literal as the kernels use it (parameters are float there): exact hex form, NaN / inf by
// bits.
std::string lit(double value) {
  const float v = static_cast<float>(value);
  if (std::isnan(v)) return "__int_as_float(0x7fc00000)";
  if (std::isinf(v)) return v > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%af", static_cast<double>(v));
  return std::string("(") + buf + ")";
}

// The expression of a unary op on the float `a` (unary_f in kernels/unary_ops.cuh).
std::string unary_expr(const UnaryParams& p) {
  const std::string al = lit(p.alpha), be = lit(p.beta);
  switch (p.op) {
    case UnaryOp::kIdentity:
      return "a";
    case UnaryOp::kAbs:
      return "fabsf(a)";
    case UnaryOp::kNeg:
      return "-a";
    case UnaryOp::kExp:
      return "expf(a)";
    case UnaryOp::kLog:
      return "logf(a)";
    case UnaryOp::kSqrt:
      return "sqrtf(a)";
    case UnaryOp::kRsqrt:
      return "rsqrtf(a)";
    case UnaryOp::kReciprocal:
      return "1.0f / a";
    case UnaryOp::kSin:
      return "sinf(a)";
    case UnaryOp::kCos:
      return "cosf(a)";
    case UnaryOp::kTan:
      return "tanf(a)";
    case UnaryOp::kTanh:
      return "tanhf(a)";
    case UnaryOp::kErf:
      return "erff(a)";
    case UnaryOp::kFloor:
      return "floorf(a)";
    case UnaryOp::kCeil:
      return "ceilf(a)";
    case UnaryOp::kRound:
      return "rintf(a)";
    case UnaryOp::kSign:
      return "(a != a) ? a : (float)((a > 0.0f) - (a < 0.0f))";
    case UnaryOp::kNot:
      return "(a == 0.0f) ? 1.0f : 0.0f";
    case UnaryOp::kRelu:
      return "(a != a) ? a : fmaxf(a, 0.0f)";
    case UnaryOp::kLeakyRelu:
      return "a > 0.0f ? a : a * " + al;
    case UnaryOp::kElu:
      return "a > 0.0f ? a : " + al + " * expm1f(a)";
    case UnaryOp::kSelu:
      return "1.0507009873554805f * (a > 0.0f ? a : 1.6732632423543772f * expm1f(a))";
    case UnaryOp::kGelu:
      return "0.5f * a * (1.0f + erff(a * 0.70710678118654752f))";
    case UnaryOp::kGeluTanh:
      return "0.5f * a * (1.0f + tanhf(0.79788456080286536f * (a + 0.044715f * a * a * a)))";
    case UnaryOp::kSilu:
      return "a / (1.0f + expf(-a))";
    case UnaryOp::kSigmoid:
      return "1.0f / (1.0f + expf(-a))";
    case UnaryOp::kHardSigmoid:
      return "fminf(fmaxf(a + 3.0f, 0.0f), 6.0f) / 6.0f";
    case UnaryOp::kHardSwish:
      return "a * fminf(fmaxf(a + 3.0f, 0.0f), 6.0f) / 6.0f";
    case UnaryOp::kSoftplus:
      return "softplus_f(a, " + al + ", " + be + ")";
    case UnaryOp::kMish:
      return "a * tanhf(softplus_f(a, 1.0f, 20.0f))";
    case UnaryOp::kClamp:
      return "clamp_f(a, " + al + ", " + be + ")";
    case UnaryOp::kLog1p:
      return "log1pf(a)";
    case UnaryOp::kExpm1:
      return "expm1f(a)";
    case UnaryOp::kAtan:
      return "atanf(a)";
    case UnaryOp::kAsin:
      return "asinf(a)";
    case UnaryOp::kAcos:
      return "acosf(a)";
    case UnaryOp::kSinh:
      return "sinhf(a)";
    case UnaryOp::kCosh:
      return "coshf(a)";
    case UnaryOp::kLog2:
      return "log2f(a)";
    case UnaryOp::kIsNan:
      return "(a != a) ? 1.0f : 0.0f";
  }
  return {};
}

// The expression of a binary op on the floats `a`, `b` (binary_f in kernels/pointwise.cu).
std::string binary_expr(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "a + b";
    case BinaryOp::kSub:
      return "a - b";
    case BinaryOp::kMul:
      return "a * b";
    case BinaryOp::kDiv:
      return "a / b";
    case BinaryOp::kPow:
      return "powf(a, b)";
    case BinaryOp::kMax:
      return "(a != a || b != b) ? __int_as_float(0x7fc00000) : fmaxf(a, b)";
    case BinaryOp::kMin:
      return "(a != a || b != b) ? __int_as_float(0x7fc00000) : fminf(a, b)";
    case BinaryOp::kFloorDiv:
      return "floorf(a / b)";
    case BinaryOp::kTruncDiv:
      return "truncf(a / b)";
    case BinaryOp::kMod:
      return "mod_f(a, b)";
    case BinaryOp::kFmod:
      return "fmodf(a, b)";
    case BinaryOp::kEqual:
      return "(a == b) ? 1.0f : 0.0f";
    case BinaryOp::kNotEqual:
      return "(a != b) ? 1.0f : 0.0f";
    case BinaryOp::kLess:
      return "(a < b) ? 1.0f : 0.0f";
    case BinaryOp::kLessEqual:
      return "(a <= b) ? 1.0f : 0.0f";
    case BinaryOp::kGreater:
      return "(a > b) ? 1.0f : 0.0f";
    case BinaryOp::kGreaterEqual:
      return "(a >= b) ? 1.0f : 0.0f";
    case BinaryOp::kAnd:
      return "(a != 0.0f && b != 0.0f) ? 1.0f : 0.0f";
    case BinaryOp::kOr:
      return "(a != 0.0f || b != 0.0f) ? 1.0f : 0.0f";
    case BinaryOp::kXor:
      return "((a != 0.0f) != (b != 0.0f)) ? 1.0f : 0.0f";
    case BinaryOp::kBitAnd:  // never fused (integer ops; bool_safe refuses them)
    case BinaryOp::kBitOr:
    case BinaryOp::kBitXor:
      return {};
  }
  return {};
}

// Ops whose float path equals the integer path on 0/1 inputs (bool operands).
bool bool_safe(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAnd:
    case BinaryOp::kOr:
    case BinaryOp::kXor:
    case BinaryOp::kEqual:
    case BinaryOp::kNotEqual:
      return true;
    default:
      return false;
  }
}

constexpr const char* kPrelude =
    R"(// Generated by Kiln (src/backends/cuda/nvrtc/pointwise_codegen.cpp).
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
struct Params {
  const void* in[16];
  void* out[8];
  u32 units;
  int rank;
  u32 size[8];
  u32 div_m[8];
  u32 div_s[8];
  u32 stride[16][8];
  u32 vec_in;
};
__device__ __forceinline__ float h2f(u16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ u16 f2h(float f) { u16 h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float bf2f(u16 h) { return __uint_as_float(((u32)h) << 16); }
__device__ __forceinline__ u16 f2bf(float f) { u16 h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
template <int K> struct St;
template <> struct St<0> { typedef float T; static __device__ __forceinline__ float ld(T v) { return v; } static __device__ __forceinline__ T st(float v) { return v; } };
template <> struct St<1> { typedef u16 T; static __device__ __forceinline__ float ld(T v) { return h2f(v); } static __device__ __forceinline__ T st(float v) { return f2h(v); } };
template <> struct St<2> { typedef u16 T; static __device__ __forceinline__ float ld(T v) { return bf2f(v); } static __device__ __forceinline__ T st(float v) { return f2bf(v); } };
template <> struct St<3> { typedef u8 T; static __device__ __forceinline__ float ld(T v) { return v != 0 ? 1.0f : 0.0f; } static __device__ __forceinline__ T st(float v) { return v != 0.0f ? 1 : 0; } };
template <int K> __device__ __forceinline__ float rnd(float v) { return St<K>::ld(St<K>::st(v)); }
template <> __device__ __forceinline__ float rnd<0>(float v) { return v; }
template <class T, int V> struct alignas(sizeof(T) * V) Pack { T v[V]; };
template <int K, int V> __device__ __forceinline__ void load(const void* base, u32 off, bool vec, float (&r)[V]) {
  typedef typename St<K>::T T;
  if (V > 1 && vec) {
    const Pack<T, V> pk = reinterpret_cast<const Pack<T, V>*>(base)[off];
#pragma unroll
    for (int e = 0; e < V; ++e) r[e] = St<K>::ld(pk.v[e]);
  } else {
    const float x = St<K>::ld(reinterpret_cast<const T*>(base)[off]);
#pragma unroll
    for (int e = 0; e < V; ++e) r[e] = x;
  }
}
template <int K, int V> __device__ __forceinline__ void store(void* base, u32 u, const float (&r)[V]) {
  typedef typename St<K>::T T;
  Pack<T, V> pk;
#pragma unroll
  for (int e = 0; e < V; ++e) pk.v[e] = St<K>::st(r[e]);
  reinterpret_cast<Pack<T, V>*>(base)[u] = pk;
}
__device__ __forceinline__ float softplus_f(float v, float beta, float threshold) {
  if (beta == 0) beta = 1;
  if (threshold == 0) threshold = 20;
  return v * beta > threshold ? v : log1pf(expf(beta * v)) / beta;
}
__device__ __forceinline__ float clamp_f(float v, float lo, float hi) {
  if (v != v) return v;
  if (lo == lo && v < lo) v = lo;
  if (hi == hi && v > hi) v = hi;
  return v;
}
__device__ __forceinline__ float mod_f(float a, float b) {
  float m = fmodf(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}
)";

}  // namespace

Status fusable_pointwise(const ir::Graph& g, const ir::Layer& l) {
  auto refuse = [&](const std::string& why) {
    return make_error(StatusCode::kUnsupported, "backends.cuda.nvrtc", why);
  };
  for (int32_t t : l.outputs)
    if (t < 0 || storage_kind(dtype_of(g, t)) < 0) return refuse("output dtype");
  for (int32_t t : l.inputs)
    if (t < 0 || storage_kind(dtype_of(g, t)) < 0) return refuse("input dtype");
  if (l.outputs.size() != 1) return refuse("outputs");
  const DataType out = dtype_of(g, l.outputs[0]);
  switch (l.op) {
    case ir::OpKind::kBinary: {
      const BinaryOp op = std::get<BinaryParams>(l.params).op;
      const DataType a = dtype_of(g, l.inputs[0]), b = dtype_of(g, l.inputs[1]);
      if (is_float_kind(a) && is_float_kind(b)) return {};
      if (a == DataType::kBool && b == DataType::kBool && bool_safe(op)) return {};
      return refuse("binary operand dtypes");
    }
    case ir::OpKind::kUnary: {
      const UnaryOp op = std::get<UnaryParams>(l.params).op;
      const DataType a = dtype_of(g, l.inputs[0]);
      if (is_float_kind(a) && (out == a || out == DataType::kBool)) return {};
      if (a == DataType::kBool && out == DataType::kBool && op == UnaryOp::kNot) return {};
      return refuse("unary operand dtype");
    }
    case ir::OpKind::kWhere:
      if (dtype_of(g, l.inputs[0]) != DataType::kBool) return refuse("where condition");
      return dtype_of(g, l.inputs[1]) == out && dtype_of(g, l.inputs[2]) == out
                 ? Status{}
                 : refuse("where dtypes");
    case ir::OpKind::kCast:
      return {};
    default:
      return refuse("not a pointwise op");
  }
}

std::vector<int32_t> pointwise_group_outputs(const ir::Graph& g, std::span<const int32_t> layers,
                                             const std::vector<bool>& executed) {
  std::vector<bool> member(g.layers.size(), false);
  for (int32_t l : layers) member[static_cast<size_t>(l)] = true;
  std::vector<bool> read_outside(g.tensors.size(), false);
  for (size_t l = 0; l < g.layers.size(); ++l) {
    if (member[l] || l >= executed.size() || !executed[l]) continue;
    const ir::Layer& layer = g.layers[l];
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      const int32_t t = layer.inputs[i];
      if (t >= 0 && !ir::is_shape_operand(layer.op, static_cast<int>(i)))
        read_outside[static_cast<size_t>(t)] = true;
    }
  }
  std::vector<int32_t> outs;
  for (int32_t l : layers) {
    const int32_t t = g.layers[static_cast<size_t>(l)].outputs[0];
    if (g.tensors[static_cast<size_t>(t)].is_output || read_outside[static_cast<size_t>(t)])
      outs.push_back(t);
  }
  return outs;
}

Expected<PointwiseKernelSpec> generate_pointwise(const ir::Graph& g,
                                                 std::span<const int32_t> layers,
                                                 const std::vector<bool>& executed) {
  auto fail = [](const std::string& why) {
    return make_error(StatusCode::kInvalidArgument, "backends.cuda.nvrtc",
                      "pointwise group: " + why);
  };
  if (layers.empty()) return fail("no layers");
  PointwiseKernelSpec spec;
  const Dims& dims =
      g.tensors[static_cast<size_t>(g.layers[static_cast<size_t>(layers[0])].outputs[0])].type.dims;
  std::map<int32_t, std::string> value;  // tensor id -> expression available in the element loop
  std::map<int32_t, int> input_index;
  std::ostringstream body;
  size_t widest = 1;
  auto operand = [&](int32_t t) -> std::string {
    if (auto it = value.find(t); it != value.end()) return it->second;
    const ir::TensorDesc& d = g.tensors[static_cast<size_t>(t)];
    // Scalar constants become literals.
    if (d.producer >= 0 && g.layers[static_cast<size_t>(d.producer)].op == ir::OpKind::kConstant &&
        d.type.dims.volume() == 1 && storage_kind(d.type.dtype) >= 0) {
      const ir::Weight& w = g.constant_weight(g.layers[static_cast<size_t>(d.producer)]);
      if (w.bytes && w.bytes->size() >= dtype_size(d.type.dtype)) {
        const double v = load_as_double(w.bytes->data(), d.type.dtype, 0);
        return value[t] = d.type.dtype == DataType::kBool ? (v != 0 ? "1.0f" : "0.0f") : lit(v);
      }
    }
    auto [it, fresh] = input_index.emplace(t, static_cast<int>(spec.inputs.size()));
    if (fresh) {
      spec.inputs.push_back(t);
      widest = std::max(widest, dtype_size(d.type.dtype));
    }
    return value[t] = "x" + std::to_string(it->second) + "[e]";
  };
  for (int32_t id : layers) {
    const ir::Layer& l = g.layers[static_cast<size_t>(id)];
    KILN_RETURN_IF_ERROR(fusable_pointwise(g, l));
    const int32_t out = l.outputs[0];
    if (!(g.tensors[static_cast<size_t>(out)].type.dims == dims))
      return fail("member '" + l.name + "' has other dims");
    std::string expr;
    std::string a = operand(l.inputs[0]);
    std::string b = l.inputs.size() > 1 ? operand(l.inputs[1]) : std::string();
    std::string c = l.inputs.size() > 2 ? operand(l.inputs[2]) : std::string();
    switch (l.op) {
      case ir::OpKind::kBinary:
        expr = binary_expr(std::get<BinaryParams>(l.params).op);
        break;
      case ir::OpKind::kUnary:
        expr = unary_expr(std::get<UnaryParams>(l.params));
        break;
      case ir::OpKind::kWhere:
        expr = "(a != 0.0f) ? b : c";
        break;
      case ir::OpKind::kCast:
        expr = "a";
        break;
      default:
        return fail("layer '" + l.name + "' is not pointwise");
    }
    const std::string name = "v" + std::to_string(out);
    body << "    float " << name << ";\n    { const float a = " << a << ";";
    if (!b.empty()) body << " const float b = " << b << ";";
    if (!c.empty()) body << " const float c = " << c << ";";
    body << "\n      " << name << " = rnd<" << storage_kind(dtype_of(g, out)) << ">(" << expr
         << "); }\n";
    value[out] = name;
    if (!spec.summary.empty()) spec.summary += "+";
    if (l.op == ir::OpKind::kBinary) {
      spec.summary +=
          enum_names(BinaryOp{})[static_cast<size_t>(std::get<BinaryParams>(l.params).op)];
    } else if (l.op == ir::OpKind::kUnary) {
      spec.summary +=
          enum_names(UnaryOp{})[static_cast<size_t>(std::get<UnaryParams>(l.params).op)];
    } else {
      spec.summary += ir::op_name(l.op);
    }
  }
  spec.outputs = pointwise_group_outputs(g, layers, executed);
  if (spec.outputs.empty()) return fail("writes nothing");
  if (spec.inputs.size() > static_cast<size_t>(kMaxFusedInputs)) return fail("too many inputs");
  if (spec.outputs.size() > static_cast<size_t>(kMaxFusedOutputs)) return fail("too many outputs");
  for (int32_t t : spec.outputs) widest = std::max(widest, dtype_size(dtype_of(g, t)));
  spec.vector_width = static_cast<int>(16 / widest);

  const size_t nin = spec.inputs.size();
  std::ostringstream full;
  full << kPrelude;
  full << "template <int V> __device__ __forceinline__ void body(const Params& p, const u32 unit) "
          "{\n";
  if (nin > 0) {
    full << "  u32 off[" << nin << "];\n#pragma unroll\n  for (int k = 0; k < " << nin
         << "; ++k) off[k] = 0;\n"
         << "  u32 u = unit;\n#pragma unroll\n  for (int d = 7; d >= 0; --d) {\n    if (d >= "
            "p.rank) continue;\n"
         << "    const u32 q = (__umulhi(u, p.div_m[d]) + u) >> p.div_s[d];\n    const u32 c = u - "
            "q * p.size[d];\n"
         << "#pragma unroll\n    for (int k = 0; k < " << nin
         << "; ++k) off[k] += c * p.stride[k][d];\n    u = q;\n  }\n";
  }
  for (size_t k = 0; k < nin; ++k) {
    full << "  float x" << k << "[V];\n  load<" << storage_kind(dtype_of(g, spec.inputs[k]))
         << ", V>(p.in[" << k << "], off[" << k << "], (p.vec_in >> " << k << ") & 1u, x" << k
         << ");\n";
  }
  for (size_t j = 0; j < spec.outputs.size(); ++j) full << "  float y" << j << "[V];\n";
  full << "#pragma unroll\n  for (int e = 0; e < V; ++e) {\n" << body.str();
  for (size_t j = 0; j < spec.outputs.size(); ++j)
    full << "    y" << j << "[e] = " << value[spec.outputs[j]] << ";\n";
  full << "  }\n";
  for (size_t j = 0; j < spec.outputs.size(); ++j) {
    full << "  store<" << storage_kind(dtype_of(g, spec.outputs[j])) << ", V>(p.out[" << j
         << "], unit, y" << j << ");\n";
  }
  full << "}\n";
  for (const auto& [suffix, v] : {std::pair{"v1", 1}, std::pair{"vec", spec.vector_width}}) {
    full << "extern \"C\" __global__ void __launch_bounds__(256) kiln_pointwise_" << suffix
         << "(const Params p) {\n  for (u32 u = blockIdx.x * blockDim.x + threadIdx.x; u < p.units;"
         << " u += blockDim.x * gridDim.x) body<" << v << ">(p, u);\n}\n";
  }
  spec.source = full.str();
  return spec;
}

}  // namespace kiln::cuda::nvrtc
