// Generated pointwise kernels: build (generate, compile with NVRTC, record source + cubin in the
// plan) and run (load the cubin once per engine, launch with the output's coalesced broadcast
// plan).
#include <algorithm>
#include <array>
#include <climits>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/fast_div.h"
#include "backends/cuda/nvrtc/nvrtc_compiler.h"
#include "backends/cuda/nvrtc/pointwise_codegen.h"
#include "backends/cuda/tactics.h"
#include "serialization/byte_io.h"

namespace kiln::cuda {
namespace {

using nvrtc::PointwiseParams;

constexpr uint32_t kConfigMagic = 0x3157504bu;  // "KPW1"
constexpr int kThreads = 256;
constexpr size_t kMaxCubinBytes = 64u << 20;

struct PointwiseConfig {
  int arch = 0;
  std::string source;
  std::vector<uint8_t> cubin;
};

std::vector<uint8_t> encode_config(const PointwiseConfig& c) {
  serial::ByteWriter w;
  w.u32(kConfigMagic);
  w.u32(static_cast<uint32_t>(c.arch));
  w.str(c.source);
  w.str(std::string(c.cubin.begin(), c.cubin.end()));
  return std::move(w.bytes());
}

Expected<PointwiseConfig> decode_config(const std::vector<uint8_t>& bytes,
                                        const std::string& where) {
  serial::ByteReader r(bytes, where);
  PointwiseConfig c;
  if (r.u32() != kConfigMagic) r.fail("not a generated pointwise kernel");
  c.arch = static_cast<int>(r.u32());
  c.source = r.str(kMaxCubinBytes);
  std::string cubin = r.str(kMaxCubinBytes);
  if (r.ok() && r.remaining() != 0) r.fail("trailing bytes");
  if (!r.ok()) return make_error(StatusCode::kCorruptPlan, "backends.cuda", r.error());
  c.cubin.assign(cubin.begin(), cubin.end());
  return c;
}

Expected<int> device_arch(int device) {
  int major = 0, minor = 0;
  KILN_CUDA_RETURN(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  KILN_CUDA_RETURN(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return major * 10 + minor;
}

// Coalesced broadcast plan of the output dims against every input (size-1 output dims dropped, a
// dim merged into its outer neighbour when that is contiguous after it for every input); the vector
// path when the innermost merged dim holds whole vectors and every input runs along it or is
// constant there. False when 32-bit offsets cannot address the output.
bool make_params(const Dims& out, std::span<const TensorView* const> ins,
                 std::span<void* const> outs, int vw, PointwiseParams& p, int& used_vw) {
  if (out.volume() > INT32_MAX) return false;
  const size_t nin = ins.size();
  std::vector<std::array<int64_t, kMaxRank>> bst(nin);  // broadcast element strides per input
  for (size_t k = 0; k < nin; ++k) {
    const Dims& in = ins[k]->dims;
    const int lead = out.rank() - in.rank();
    if (lead < 0) return false;
    bst[k].fill(0);
    int64_t stride = 1;
    for (int i = in.rank() - 1; i >= 0; --i) {
      bst[k][static_cast<size_t>(i + lead)] = (in[i] == 1 && out[i + lead] != 1) ? 0 : stride;
      stride *= in[i];
    }
  }
  std::vector<int64_t> size;
  std::vector<std::vector<int64_t>> st;
  for (int d = 0; d < out.rank(); ++d) {
    if (out[d] == 1) continue;
    bool merge = !size.empty();
    for (size_t k = 0; k < nin && merge; ++k)
      merge = st.back()[k] == bst[k][static_cast<size_t>(d)] * out[d];
    if (merge) {
      size.back() *= out[d];
      for (size_t k = 0; k < nin; ++k) st.back()[k] = bst[k][static_cast<size_t>(d)];
    } else {
      size.push_back(out[d]);
      std::vector<int64_t> row(nin);
      for (size_t k = 0; k < nin; ++k) row[k] = bst[k][static_cast<size_t>(d)];
      st.push_back(std::move(row));
    }
  }
  if (size.empty()) {
    size.push_back(1);
    st.emplace_back(nin, 0);
  }
  const size_t inner = size.size() - 1;
  bool vec = vw > 1 && size[inner] % vw == 0;
  for (void* o : outs) vec = vec && reinterpret_cast<uintptr_t>(o) % 16 == 0;
  for (size_t k = 0; k < nin && vec; ++k) {
    const int64_t si = st[inner][k];
    if (si == 0) continue;
    vec = si == 1 && reinterpret_cast<uintptr_t>(ins[k]->data) % 16 == 0;
    for (size_t d = 0; d < inner && vec; ++d) vec = st[d][k] % vw == 0;
  }
  used_vw = vec ? vw : 1;
  p = PointwiseParams{};
  for (size_t k = 0; k < nin; ++k) p.in[k] = ins[k]->data;
  for (size_t j = 0; j < outs.size(); ++j) p.out[j] = outs[j];
  p.units = static_cast<uint32_t>(out.volume() / used_vw);
  p.rank = static_cast<int32_t>(size.size());
  for (size_t k = 0; k < nin; ++k)
    if (used_vw > 1 && st[inner][k] == 1) p.vec_in |= 1u << k;
  for (size_t d = 0; d < size.size(); ++d) {
    const int64_t sz = d == inner ? size[d] / used_vw : size[d];
    p.size[d] = static_cast<uint32_t>(sz);
    const FastDiv f = make_fastdiv(sz);
    p.div_m[d] = f.m;
    p.div_s[d] = f.s;
    for (size_t k = 0; k < nin; ++k) {
      // A vector-loaded input's offsets count vectors.
      const int64_t s = ((p.vec_in >> k) & 1u) == 0 ? st[d][k]
                        : d == inner                ? 1
                                                    : st[d][k] / used_vw;
      p.stride[k][d] = static_cast<uint32_t>(s);
    }
  }
  return true;
}

class FusedPointwiseKernel final : public backend::Kernel {
 public:
  FusedPointwiseKernel(nvrtc::PointwiseKernelSpec spec,
                       std::vector<std::unique_ptr<backend::Kernel>> members)
      : spec_(std::move(spec)), members_(std::move(members)) {}
  ~FusedPointwiseKernel() override {
    if (lib_) cudaLibraryUnload(lib_);
  }

  Status load(const std::vector<uint8_t>& cubin) {
    if (lib_) cudaLibraryUnload(lib_);
    lib_ = nullptr;
    KILN_CUDA_RETURN(
        cudaLibraryLoadData(&lib_, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
    KILN_CUDA_RETURN(cudaLibraryGetKernel(&scalar_, lib_, "kiln_pointwise_v1"));
    KILN_CUDA_RETURN(cudaLibraryGetKernel(&vector_, lib_, "kiln_pointwise_vec"));
    return {};
  }

  Status run(const backend::RunContext& ctx) const override {
    const TensorView& o = ctx.tensors[static_cast<size_t>(spec_.outputs[0])];
    if (o.numel() == 0) return {};
    std::array<const TensorView*, nvrtc::kMaxFusedInputs> ins{};
    std::array<void*, nvrtc::kMaxFusedOutputs> outs{};
    bool same = true;
    for (size_t j = 0; j < spec_.outputs.size(); ++j) {
      const TensorView& t = ctx.tensors[static_cast<size_t>(spec_.outputs[j])];
      same = same && t.dims == o.dims;
      outs[j] = t.data;
    }
    for (size_t k = 0; k < spec_.inputs.size(); ++k)
      ins[k] = &ctx.tensors[static_cast<size_t>(spec_.inputs[k])];
    PointwiseParams p;
    int vw = 1;
    if (!same ||
        !make_params(o.dims, std::span(ins.data(), spec_.inputs.size()),
                     std::span(outs.data(), spec_.outputs.size()), spec_.vector_width, p, vw)) {
      // Outputs of other sizes (dynamic dims) or beyond 32-bit offsets: the members' own kernels.
      for (const auto& k : members_) KILN_RETURN_IF_ERROR(k->run(ctx));
      return {};
    }
    void* args[] = {&p};
    const cudaKernel_t k = vw > 1 ? vector_ : scalar_;
    KILN_CUDA_RETURN(cudaLaunchKernel(reinterpret_cast<const void*>(k),
                                      dim3(grid_for(p.units, kThreads)), dim3(kThreads), args, 0,
                                      static_cast<cudaStream_t>(ctx.stream)));
    return {};
  }

  size_t workspace_bytes(std::span<const TensorView> tensors) const override {
    size_t ws = 0;
    for (const auto& k : members_) ws = std::max(ws, k->workspace_bytes(tensors));
    return ws;
  }

  std::string describe() const override { return "cuda.pointwise[" + spec_.summary + "]"; }

 private:
  nvrtc::PointwiseKernelSpec spec_;
  std::vector<std::unique_ptr<backend::Kernel>>
      members_;  ///< fallback: one kernel per member layer
  cudaLibrary_t lib_ = nullptr;
  cudaKernel_t scalar_ = nullptr, vector_ = nullptr;
};

// Runs the generated kernel and the members' own kernels on the same random data at the opt shapes
// and compares every output the group writes (a kernel that disagrees is not used).
Status verify(const FusedPointwiseKernel& fused, const std::vector<int32_t>& layers,
              const nvrtc::PointwiseKernelSpec& spec, TuneContext& ctx, const std::string& what) {
  const ir::Graph& g = ctx.graph;
  std::vector<int32_t> tensors = spec.inputs;
  for (int32_t l : layers)
    for (int32_t t : g.layers[static_cast<size_t>(l)].inputs) tensors.push_back(t);
  for (int32_t l : layers) tensors.push_back(g.layers[static_cast<size_t>(l)].outputs[0]);
  std::sort(tensors.begin(), tensors.end());
  tensors.erase(std::unique(tensors.begin(), tensors.end()), tensors.end());
  std::vector<TensorView> views(g.tensors.size());
  std::vector<void*> owned;
  auto release = [&] {
    for (void* p : owned) cudaFree(p);
  };
  Status s;
  for (int32_t t : tensors) {
    const TensorType& type = ctx.opt_types[static_cast<size_t>(t)];
    void* p = nullptr;
    s = cuda_status(cudaMalloc(&p, std::max<size_t>(256, static_cast<size_t>(type.dims.volume()) *
                                                             dtype_size(type.dtype))),
                    "cudaMalloc", __FILE__, __LINE__);
    if (!s.ok()) break;
    owned.push_back(p);
    views[static_cast<size_t>(t)] = TensorView{p, type.dtype, type.dims};
    // Constants keep their values: the generated source inlines scalar constants as literals, so
    // random data there would make the members' kernels compute something else.
    const ir::TensorDesc& d = g.tensors[static_cast<size_t>(t)];
    const ir::Layer* producer =
        d.producer >= 0 ? &g.layers[static_cast<size_t>(d.producer)] : nullptr;
    if (producer != nullptr && producer->op == ir::OpKind::kConstant) {
      const ir::Weight& w = g.constant_weight(*producer);
      const size_t bytes = static_cast<size_t>(type.dims.volume()) * dtype_size(type.dtype);
      if (w.bytes && w.bytes->size() >= bytes) {
        s = cuda_status(
            cudaMemcpyAsync(p, w.bytes->data(), bytes, cudaMemcpyHostToDevice, ctx.stream),
            "cudaMemcpyAsync", __FILE__, __LINE__);
        if (!s.ok()) break;
        continue;
      }
    }
    s = fill_random(p, type.dtype, type.dims.volume(), ctx.stream, static_cast<uint64_t>(t) + 7);
    if (!s.ok()) break;
  }
  std::vector<void*> reference;
  backend::RunContext rc;
  rc.tensors = views;
  rc.stream = ctx.stream;
  rc.backend_state = &ctx.state;
  for (size_t i = 0; s.ok() && i < layers.size(); ++i)
    s = make_layer_kernel(g.layers[static_cast<size_t>(layers[i])])->run(rc);
  for (size_t j = 0; s.ok() && j < spec.outputs.size(); ++j) {  // keep the members' results
    const TensorView& v = views[static_cast<size_t>(spec.outputs[j])];
    void* p = nullptr;
    s = cuda_status(cudaMalloc(&p, std::max<size_t>(256, v.bytes())), "cudaMalloc", __FILE__,
                    __LINE__);
    if (!s.ok()) break;
    owned.push_back(p);
    reference.push_back(p);
    s = cuda_status(cudaMemcpyAsync(p, v.data, v.bytes(), cudaMemcpyDeviceToDevice, ctx.stream),
                    "cudaMemcpyAsync", __FILE__, __LINE__);
  }
  if (s.ok()) s = fused.run(rc);
  for (size_t j = 0; s.ok() && j < spec.outputs.size(); ++j) {
    const TensorView& v = views[static_cast<size_t>(spec.outputs[j])];
    const double tol = v.dtype == DataType::kBFloat16  ? 1e-2
                       : v.dtype == DataType::kFloat16 ? 2e-3
                                                       : 1e-5;
    s = check_close(v.data, reference[j], v.dtype, v.numel(), tol, tol, ctx.stream, what);
  }
  cudaStreamSynchronize(ctx.stream);
  release();
  return s;
}

std::string group_label(const ir::Graph& g, const std::vector<int32_t>& layers) {
  return "pointwise kernel of layer '" + g.layers[static_cast<size_t>(layers[0])].name + "' (+" +
         std::to_string(layers.size() - 1) + " fused)";
}

}  // namespace

Expected<backend::KernelRecord> tune_fused_pointwise(const std::vector<int32_t>& layers,
                                                     TuneContext& ctx) {
  static_assert(sizeof(PointwiseParams) <= 4096, "kernel parameter limit");
  if (ctx.executed == nullptr)
    return make_error(StatusCode::kInternal, "backends.cuda", "no executed-layer set");
  KILN_ASSIGN_OR_RETURN(auto spec, nvrtc::generate_pointwise(ctx.graph, layers, *ctx.executed));
  KILN_ASSIGN_OR_RETURN(auto arch, device_arch(ctx.state.device));
  KILN_ASSIGN_OR_RETURN(auto cubin, nvrtc::compile_cubin(spec.source, arch, ctx.kernel_cache_dir,
                                                         group_label(ctx.graph, layers)));
  {
    FusedPointwiseKernel probe(spec, {});
    KILN_RETURN_IF_ERROR(probe.load(cubin));
    KILN_RETURN_IF_ERROR(verify(probe, layers, spec, ctx, group_label(ctx.graph, layers)));
  }
  backend::KernelRecord rec;
  rec.layers = layers;
  rec.kernel = "cuda.pointwise";
  rec.tactic = arch;
  rec.config = encode_config({arch, spec.source, std::move(cubin)});
  return rec;
}

Expected<std::unique_ptr<backend::Kernel>> create_fused_pointwise_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec, const std::vector<bool>& executed) {
  const std::string label = group_label(g, rec.layers);
  KILN_ASSIGN_OR_RETURN(auto cfg, decode_config(rec.config, label));
  for (int32_t l : rec.layers) {
    if (l < 0 || static_cast<size_t>(l) >= g.layers.size())
      return make_error(StatusCode::kCorruptPlan, "backends.cuda", label + ": bad layer index");
  }
  auto spec = nvrtc::generate_pointwise(g, rec.layers, executed);
  if (!spec)
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      label + ": " + spec.status().message());
  if (spec->source != cfg.source)
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      label + ": the plan's generated source does not match its graph");
  std::vector<std::unique_ptr<backend::Kernel>> members;
  for (int32_t l : rec.layers)
    members.push_back(make_layer_kernel(g.layers[static_cast<size_t>(l)]));
  auto k = std::make_unique<FusedPointwiseKernel>(std::move(*spec), std::move(members));
  int device = 0;
  KILN_CUDA_RETURN(cudaGetDevice(&device));
  KILN_ASSIGN_OR_RETURN(auto arch, device_arch(device));
  if (arch == cfg.arch) {
    Status s = k->load(cfg.cubin);
    if (s.ok()) return std::unique_ptr<backend::Kernel>(std::move(k));
    cudaGetLastError();
  }
  // Another GPU than the plan was built on: compile the recorded source for this one.
  KILN_ASSIGN_OR_RETURN(auto cubin, nvrtc::compile_cubin(cfg.source, arch, std::string(), label));
  KILN_RETURN_IF_ERROR(k->load(cubin));
  return std::unique_ptr<backend::Kernel>(std::move(k));
}

}  // namespace kiln::cuda
