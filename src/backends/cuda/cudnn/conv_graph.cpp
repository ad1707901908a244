// cuDNN backend-API convolution graphs: conv -> [bias add] -> [residual add] -> [activation],
// intermediates virtual in float32, so cuDNN's fused engines run the epilogue inside the
// convolution kernel.
#include "backends/cuda/cudnn/conv_graph.h"

#include <cstdint>

namespace kiln::cuda {
namespace {

// kUidScalar + k: the k-th by-value scalar of the activation steps.
enum : int64_t {
  kUidX = 1,
  kUidW = 2,
  kUidY = 3,
  kUidB = 4,
  kUidZ = 5,
  kUidScale = 6,
  kUidOutMultiplier = 7,
  kUidScalar = 50,
  kUidVirtual = 100
};
constexpr int64_t kAlignment = 16;

#define KILN_BK_RETURN(expr) KILN_CUDNN_RETURN(expr)

Status set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
           cudnnBackendAttributeType_t type, int64_t n, const void* v) {
  KILN_BK_RETURN(cudnnBackendSetAttribute(d, name, type, n, v));
  return {};
}

/// Whether an engine config keeps float32 accumulation and full-precision inputs: engines noted
/// REDUCED_PRECISION_REDUCTION (fp16 accumulators) or DOWN_CONVERT_INPUTS are refused — they are
/// often the fastest candidates and lose accuracy on long reductions (large C * R * S).
bool numerically_safe(cudnnBackendDescriptor_t cfg) {
  cudnnBackendDescriptor_t engine = nullptr;
  if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) !=
      CUDNN_STATUS_SUCCESS)
    return false;
  int64_t n = 0;
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t count = 0;
  bool ok =
      cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                               &n, &engine) == CUDNN_STATUS_SUCCESS &&
      cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count,
                               notes) == CUDNN_STATUS_SUCCESS;
  for (int64_t i = 0; ok && i < count && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; ++i) {
    if (notes[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION ||
        notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)
      ok = false;
  }
  cudnnBackendDestroyDescriptor(engine);
  return ok;
}

}  // namespace

bool conv_graph_aligned(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (p != nullptr && reinterpret_cast<uintptr_t>(p) % kAlignment != 0) return false;
  return true;
}

ConvGraph::~ConvGraph() {
  if (plan_) cudnnBackendDestroyDescriptor(plan_);
  for (auto c : configs_) cudnnBackendDestroyDescriptor(c);
  for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) cudnnBackendDestroyDescriptor(*it);
}

Expected<std::unique_ptr<ConvGraph>> ConvGraph::create(cudnnHandle_t h, const ConvGraphProblem& p) {
  std::unique_ptr<ConvGraph> g(new ConvGraph());
  g->p_ = p;
  auto make = [&](cudnnBackendDescriptorType_t type) -> Expected<cudnnBackendDescriptor_t> {
    cudnnBackendDescriptor_t d = nullptr;
    KILN_BK_RETURN(cudnnBackendCreateDescriptor(type, &d));
    g->owned_.push_back(d);
    return d;
  };
  auto tensor = [&](int64_t uid, cudnnDataType_t dt, const std::vector<int64_t>& dims,
                    const std::vector<int64_t>& strides, bool is_virtual,
                    bool by_value = false) -> Expected<cudnnBackendDescriptor_t> {
    KILN_ASSIGN_OR_RETURN(auto d, make(CUDNN_BACKEND_TENSOR_DESCRIPTOR));
    auto n = static_cast<int64_t>(dims.size());
    KILN_RETURN_IF_ERROR(set(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt));
    KILN_RETURN_IF_ERROR(set(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, n, dims.data()));
    KILN_RETURN_IF_ERROR(set(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, n, strides.data()));
    KILN_RETURN_IF_ERROR(set(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
    KILN_RETURN_IF_ERROR(
        set(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &kAlignment));
    bool v = is_virtual;
    KILN_RETURN_IF_ERROR(set(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v));
    if (by_value) {
      bool bv = true;
      KILN_RETURN_IF_ERROR(set(d, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &bv));
    }
    KILN_BK_RETURN(cudnnBackendFinalize(d));
    return d;
  };
  const bool epilogue = p.bias || p.residual || !p.activation.empty() || p.int8;
  // int8: int8 operands, float bias, residual of z_type, y of y_type.
  const cudnnDataType_t xw_type = p.int8 ? CUDNN_DATA_INT8 : p.io_type;
  const cudnnDataType_t y_type = p.int8 ? p.y_type : p.io_type;
  const cudnnDataType_t b_type = p.int8 ? CUDNN_DATA_FLOAT : p.io_type;
  const cudnnDataType_t z_type = p.int8 ? p.z_type : p.io_type;
  int64_t next_virtual = kUidVirtual;
  KILN_ASSIGN_OR_RETURN(auto x, tensor(kUidX, xw_type, p.x, p.xs, false));
  KILN_ASSIGN_OR_RETURN(auto w, tensor(kUidW, xw_type, p.w, p.ws, false));
  KILN_ASSIGN_OR_RETURN(auto conv_out,
                        epilogue ? tensor(next_virtual++, CUDNN_DATA_FLOAT, p.y, p.ys, true)
                                 : tensor(kUidY, y_type, p.y, p.ys, false));

  KILN_ASSIGN_OR_RETURN(auto cd, make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR));
  cudnnDataType_t comp = p.int8 ? CUDNN_DATA_INT32 : CUDNN_DATA_FLOAT;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  auto spatial = static_cast<int64_t>(p.pad.size());
  KILN_RETURN_IF_ERROR(set(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
  KILN_RETURN_IF_ERROR(
      set(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
  KILN_RETURN_IF_ERROR(set(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial));
  KILN_RETURN_IF_ERROR(
      set(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, spatial, p.dil.data()));
  KILN_RETURN_IF_ERROR(
      set(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, spatial, p.stride.data()));
  KILN_RETURN_IF_ERROR(
      set(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, spatial, p.pad.data()));
  KILN_RETURN_IF_ERROR(
      set(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, spatial, p.pad.data()));
  KILN_BK_RETURN(cudnnBackendFinalize(cd));

  std::vector<cudnnBackendDescriptor_t> ops;
  KILN_ASSIGN_OR_RETURN(auto conv, make(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR));
  float alpha = 1.0f, beta = 0.0f;
  KILN_RETURN_IF_ERROR(
      set(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
  KILN_RETURN_IF_ERROR(
      set(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w));
  KILN_RETURN_IF_ERROR(set(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv_out));
  KILN_RETURN_IF_ERROR(set(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
  KILN_RETURN_IF_ERROR(
      set(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
  KILN_RETURN_IF_ERROR(
      set(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
  KILN_BK_RETURN(cudnnBackendFinalize(conv));
  ops.push_back(conv);

  // Epilogue chain: each step reads `cur` (and an operand) and writes a new virtual tensor, the
  // last one writes y.
  cudnnBackendDescriptor_t cur = conv_out;
  int steps = (p.bias ? 1 : 0) + (p.residual ? 1 : 0) + static_cast<int>(p.activation.size()) +
              (p.int8 ? 1 : 0) + (p.int8 && p.out_multiplier ? 1 : 0);
  // upper_clip > 0: a ReLU clipped to [0, upper_clip].
  auto pointwise = [&](cudnnPointwiseMode_t pm, cudnnBackendDescriptor_t operand,
                       double upper_clip = 0.0) -> Status {
    bool last = --steps == 0;
    KILN_ASSIGN_OR_RETURN(auto out,
                          last ? tensor(kUidY, y_type, p.y, p.ys, false)
                               : tensor(next_virtual++, CUDNN_DATA_FLOAT, p.y, p.ys, true));
    KILN_ASSIGN_OR_RETURN(auto pw, make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR));
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &pm));
    KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec));
    if (pm == CUDNN_POINTWISE_SWISH_FWD) {  // silu: x * sigmoid(1 * x), stated rather than left to
                                            // a default
      double beta = 1.0;
      if (cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_SWISH_BETA, CUDNN_TYPE_DOUBLE, 1,
                                   &beta) != CUDNN_STATUS_SUCCESS) {
        float fbeta = 1.0f;
        KILN_RETURN_IF_ERROR(set(pw, CUDNN_ATTR_POINTWISE_SWISH_BETA, CUDNN_TYPE_FLOAT, 1, &fbeta));
      }
    }
    if (upper_clip > 0.0) {  // double per the backend API docs; float where a version wants it
      for (auto attr :
           {CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP}) {
        double v = attr == CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP ? 0.0 : upper_clip;
        if (cudnnBackendSetAttribute(pw, attr, CUDNN_TYPE_DOUBLE, 1, &v) != CUDNN_STATUS_SUCCESS) {
          float fv = static_cast<float>(v);
          KILN_RETURN_IF_ERROR(set(pw, attr, CUDNN_TYPE_FLOAT, 1, &fv));
        }
      }
    }
    KILN_BK_RETURN(cudnnBackendFinalize(pw));
    KILN_ASSIGN_OR_RETURN(auto op, make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR));
    KILN_RETURN_IF_ERROR(set(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                             CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw));
    KILN_RETURN_IF_ERROR(
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cur));
    if (operand)
      KILN_RETURN_IF_ERROR(set(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &operand));
    KILN_RETURN_IF_ERROR(
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &out));
    KILN_BK_RETURN(cudnnBackendFinalize(op));
    ops.push_back(op);
    cur = out;
    return {};
  };
  // A per-channel operand [1, K, 1...] (channel_count K) or a scalar one (1).
  auto channel_operand = [&](int64_t uid, cudnnDataType_t dt, int64_t channel_count) {
    std::vector<int64_t> bd(p.y.size(), 1), bs(p.y.size(), 1);
    bd[1] = channel_count;
    bs[0] = channel_count;
    return tensor(uid, dt, bd, bs, false);
  };
  if (p.int8) {
    KILN_ASSIGN_OR_RETURN(auto s, channel_operand(kUidScale, CUDNN_DATA_FLOAT, p.y[1]));
    KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_MUL, s));
  }
  if (p.bias) {
    KILN_ASSIGN_OR_RETURN(auto b, channel_operand(kUidB, b_type, p.y[1]));
    KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_ADD, b));
  }
  if (p.residual) {
    KILN_ASSIGN_OR_RETURN(auto z, tensor(kUidZ, z_type, p.y, p.ys, false));
    KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_ADD, z));
  }
  // The activation's steps (graph_activation.h); kMulStart reads the value before the first step.
  const cudnnBackendDescriptor_t start = cur;
  const std::vector<int64_t> ones(p.y.size(), 1);
  auto scalar = [&](float value) -> Expected<cudnnBackendDescriptor_t> {
    const auto uid = kUidScalar + static_cast<int64_t>(g->scalars_.size());
    g->scalars_.push_back(Scalar{value});
    return tensor(uid, CUDNN_DATA_FLOAT, ones, ones, false, true);
  };
  for (const GraphActOp& a : p.activation) {
    switch (a.step) {
      case GraphActStep::kRelu:
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_RELU_FWD, nullptr));
        break;
      case GraphActStep::kSwish:
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_SWISH_FWD, nullptr));
        break;
      case GraphActStep::kSigmoid:
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_SIGMOID_FWD, nullptr));
        break;
      case GraphActStep::kTanh:
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_TANH_FWD, nullptr));
        break;
      case GraphActStep::kGelu:
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_GELU_FWD, nullptr));
        break;
      case GraphActStep::kGeluTanh:
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_GELU_APPROX_TANH_FWD, nullptr));
        break;
      case GraphActStep::kAddScalar: {
        KILN_ASSIGN_OR_RETURN(auto c, scalar(a.value));
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_ADD, c));
        break;
      }
      case GraphActStep::kMulScalar: {
        KILN_ASSIGN_OR_RETURN(auto c, scalar(a.value));
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_MUL, c));
        break;
      }
      case GraphActStep::kRelu6:
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_RELU_FWD, nullptr, 6.0));
        break;
      case GraphActStep::kMulStart:
        KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_MUL, start));
        break;
    }
  }
  if (p.int8 && p.out_multiplier) {
    KILN_ASSIGN_OR_RETURN(auto m, channel_operand(kUidOutMultiplier, CUDNN_DATA_FLOAT, 1));
    KILN_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_MUL, m));
  }

  KILN_ASSIGN_OR_RETURN(auto graph, make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
  KILN_RETURN_IF_ERROR(set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                           static_cast<int64_t>(ops.size()), ops.data()));
  KILN_RETURN_IF_ERROR(set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
  KILN_BK_RETURN(cudnnBackendFinalize(graph));
  g->graph_ = graph;

  for (cudnnBackendHeurMode_t hm : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    cudnnBackendDescriptor_t heur = nullptr;
    KILN_BK_RETURN(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
    int64_t count = 0;
    cudnnStatus_t st = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->graph_);
    if (st == CUDNN_STATUS_SUCCESS)
      st = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hm);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(heur);
    if (st == CUDNN_STATUS_SUCCESS)
      st = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr);
    if (st == CUDNN_STATUS_SUCCESS && count > 0) {
      std::vector<cudnnBackendDescriptor_t> cfgs(static_cast<size_t>(count), nullptr);
      for (auto& c : cfgs) {
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &c) !=
            CUDNN_STATUS_SUCCESS)
          c = nullptr;
      }
      int64_t got = 0;
      st = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, cfgs.data());
      for (size_t i = 0; i < cfgs.size(); ++i) {
        if (cfgs[i] == nullptr) continue;
        if (st == CUDNN_STATUS_SUCCESS && static_cast<int64_t>(i) < got &&
            numerically_safe(cfgs[i])) {
          g->configs_.push_back(cfgs[i]);
        } else {
          cudnnBackendDestroyDescriptor(cfgs[i]);
        }
      }
    }
    cudnnBackendDestroyDescriptor(heur);
    if (!g->configs_.empty()) break;
  }
  if (g->configs_.empty())
    return make_error(StatusCode::kUnsupported, "backends.cuda.cudnn",
                      "no cuDNN engine for this convolution graph");
  return g;
}

Status ConvGraph::select(cudnnHandle_t h, int index, size_t max_workspace) {
  if (index < 0 || index >= candidates())
    return make_error(StatusCode::kInvalidArgument, "backends.cuda.cudnn",
                      "engine candidate " + std::to_string(index) + " out of range");
  if (plan_) {
    cudnnBackendDestroyDescriptor(plan_);
    plan_ = nullptr;
    selected_ = -1;
  }
  cudnnBackendDescriptor_t plan = nullptr;
  KILN_BK_RETURN(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan));
  cudnnStatus_t st =
      cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                  &configs_[static_cast<size_t>(index)]);
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(plan);
  int64_t ws = 0, n = 0;
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                  1, &n, &ws);
  if (st != CUDNN_STATUS_SUCCESS) {
    cudnnBackendDestroyDescriptor(plan);
    return cudnn_status(st, "execution plan for engine candidate", __FILE__, __LINE__);
  }
  if (ws < 0 || static_cast<uint64_t>(ws) > max_workspace) {
    cudnnBackendDestroyDescriptor(plan);
    return make_error(StatusCode::kOutOfMemory, "backends.cuda.cudnn",
                      "engine candidate needs " + std::to_string(ws) +
                          " bytes of workspace (limit " + std::to_string(max_workspace) + ")");
  }
  plan_ = plan;
  workspace_ = static_cast<size_t>(ws);
  selected_ = index;
  return {};
}

Expected<int> ConvGraph::select_first(cudnnHandle_t h, size_t max_workspace) {
  Status last;
  for (int i = 0; i < candidates(); ++i) {
    last = select(h, i, max_workspace);
    if (last.ok()) return i;
  }
  return last.ok()
             ? make_error(StatusCode::kUnsupported, "backends.cuda.cudnn", "no engine candidate")
             : last;
}

Status ConvGraph::run(cudnnHandle_t h, const void* x, const void* w, const void* b, const void* z,
                      void* y, void* workspace, cudaStream_t stream, const void* scale,
                      const void* out_multiplier) const {
  if (plan_ == nullptr)
    return make_error(StatusCode::kInternal, "backends.cuda.cudnn",
                      "convolution graph without a plan");
  std::vector<int64_t> uids = {kUidX, kUidW, kUidY};
  std::vector<void*> ptrs = {const_cast<void*>(x), const_cast<void*>(w), y};
  if (p_.int8) {
    uids.push_back(kUidScale);
    ptrs.push_back(const_cast<void*>(scale));
  }
  if (p_.int8 && p_.out_multiplier) {
    uids.push_back(kUidOutMultiplier);
    ptrs.push_back(const_cast<void*>(out_multiplier));
  }
  if (p_.bias) {
    uids.push_back(kUidB);
    ptrs.push_back(const_cast<void*>(b));
  }
  if (p_.residual) {
    uids.push_back(kUidZ);
    ptrs.push_back(const_cast<void*>(z));
  }
  for (size_t k = 0; k < scalars_.size(); ++k) {  // by value: host pointers, read at launch
    uids.push_back(kUidScalar + static_cast<int64_t>(k));
    ptrs.push_back(const_cast<float*>(&scalars_[k].value));
  }
  const auto n = static_cast<int64_t>(uids.size());
  KILN_BK_RETURN(cudnnSetStream(h, stream));
  cudnnBackendDescriptor_t pack = nullptr;
  KILN_BK_RETURN(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
  cudnnStatus_t st = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                              CUDNN_TYPE_INT64, n, uids.data());
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                                  n, ptrs.data());
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                  &workspace);
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(pack);
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendExecute(h, plan_, pack);
  cudnnBackendDestroyDescriptor(pack);
  if (st != CUDNN_STATUS_SUCCESS)
    return cudnn_status(st, "cudnnBackendExecute (convolution graph)", __FILE__, __LINE__);
  return {};
}

}  // namespace kiln::cuda
