// Attention through strided views of its operands and output (see attention_views.h).
#include "backends/cuda/attention_views.h"

#include <algorithm>
#include <memory>
#include <string>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/tactics.h"
#include "backends/cuda/view_layout.h"

namespace kiln::cuda {
namespace {

const TensorType& type_of(const ir::Graph& g, int32_t t) {
  return g.tensors[static_cast<size_t>(t)].type;
}

// The flash path takes strided operands (kernels/attention_flash.cu); it is chosen from dtypes and
// head dims alone, so a group formed here always runs it (or cuDNN's, which takes views too).
bool flash_eligible(const ir::Graph& g, const ir::Layer& a) {
  if (a.inputs.size() < 3 || a.outputs.size() != 1) return false;
  const TensorType& q = type_of(g, a.inputs[0]);
  if (q.dtype != DataType::kFloat16 && q.dtype != DataType::kBFloat16) return false;
  const int r = q.dims.rank();
  if (r < 3) return false;
  for (int i = 1; i < 3; ++i) {
    const TensorType& t = type_of(g, a.inputs[static_cast<size_t>(i)]);
    if (t.dtype != q.dtype || t.dims.rank() != r) return false;
  }
  const int64_t e = q.dims[r - 1], ev = type_of(g, a.inputs[2]).dims[r - 1];
  return e == ev && (e == 32 || e == 64 || e == 80 || e == 96 || e == 128);
}

bool writable_view(const ir::Layer& l) {
  return is_view_chain_layer(l) && l.op != ir::OpKind::kSlice;
}

bool has_transpose(const ir::Graph& g, const std::vector<int32_t>& chain) {
  return std::any_of(chain.begin(), chain.end(), [&](int32_t l) {
    return g.layers[static_cast<size_t>(l)].op == ir::OpKind::kTranspose;
  });
}

}  // namespace

AttentionChains chains_within(const ir::Graph& g, int32_t attention,
                              const std::vector<bool>& member) {
  AttentionChains c;
  c.attention = attention;
  const ir::Layer& a = g.layers[static_cast<size_t>(attention)];
  for (size_t i = 0; i < 3 && i < a.inputs.size(); ++i) {
    std::vector<int32_t> rev;
    int32_t t = a.inputs[i];
    while (t >= 0) {
      const int32_t p = g.tensors[static_cast<size_t>(t)].producer;
      if (p < 0 || !member[static_cast<size_t>(p)] || p == attention) break;
      rev.push_back(p);
      t = g.layers[static_cast<size_t>(p)].inputs[0];
    }
    c.in[i].assign(rev.rbegin(), rev.rend());
  }
  int32_t t = a.outputs[0];
  for (size_t l = static_cast<size_t>(attention) + 1; l < g.layers.size(); ++l) {
    if (!member[l] || g.layers[l].inputs.empty() || g.layers[l].inputs[0] != t) continue;
    c.out.push_back(static_cast<int32_t>(l));
    t = g.layers[l].outputs[0];
  }
  return c;
}

std::vector<std::vector<int32_t>> plan_attention_views(
    const ir::Graph& g, const std::vector<int32_t>& device_layers,
    const std::vector<std::vector<int32_t>>& consumers, std::vector<bool>& taken) {
  std::vector<bool> is_device(g.layers.size(), false);
  for (int32_t l : device_layers) is_device[static_cast<size_t>(l)] = true;
  auto free_view = [&](int32_t p) {
    return p >= 0 && is_device[static_cast<size_t>(p)] && !taken[static_cast<size_t>(p)] &&
           is_view_chain_layer(g.layers[static_cast<size_t>(p)]);
  };
  std::vector<std::vector<int32_t>> groups;
  for (int32_t l : device_layers) {
    const ir::Layer& a = g.layers[static_cast<size_t>(l)];
    if (taken[static_cast<size_t>(l)] || a.op != ir::OpKind::kAttention || !flash_eligible(g, a))
      continue;
    // Input chains, operand side first: producers that are views of one input each.
    std::array<std::vector<int32_t>, 3> in;
    for (size_t i = 0; i < 3; ++i) {
      int32_t t = a.inputs[i];
      while (!g.tensors[static_cast<size_t>(t)].is_output) {
        const int32_t p = g.tensors[static_cast<size_t>(t)].producer;
        if (!free_view(p)) break;
        in[i].push_back(p);
        t = g.layers[static_cast<size_t>(p)].inputs[0];
      }
    }
    // Every tensor a chain layer writes must be read by the group alone: cut a chain where one
    // is read elsewhere (that layer and the ones before it run as they are).
    std::vector<bool> member(g.layers.size(), false);
    for (bool changed = true; changed;) {
      changed = false;
      std::fill(member.begin(), member.end(), false);
      member[static_cast<size_t>(l)] = true;
      for (const auto& chain : in)
        for (int32_t p : chain) member[static_cast<size_t>(p)] = true;
      for (auto& chain : in) {
        for (size_t j = 0; j < chain.size(); ++j) {
          const int32_t out = g.layers[static_cast<size_t>(chain[j])].outputs[0];
          bool inside = !g.tensors[static_cast<size_t>(out)].is_output;
          for (int32_t c : consumers[static_cast<size_t>(out)])
            inside = inside && member[static_cast<size_t>(c)];
          if (!inside) {
            chain.resize(j);
            changed = true;
            break;
          }
        }
      }
    }
    // Output chain: reshapes and transposes that alone read what the previous one wrote, up to
    // the last transpose (the reshapes after it stay views of what the group writes).
    std::vector<int32_t> out;
    for (int32_t t = a.outputs[0];;) {
      const auto& c = consumers[static_cast<size_t>(t)];
      if (g.tensors[static_cast<size_t>(t)].is_output || c.size() != 1 || !free_view(c[0]) ||
          !writable_view(g.layers[static_cast<size_t>(c[0])]) ||
          g.layers[static_cast<size_t>(c[0])].inputs[0] != t)
        break;
      out.push_back(c[0]);
      t = g.layers[static_cast<size_t>(c[0])].outputs[0];
    }
    while (!out.empty() && g.layers[static_cast<size_t>(out.back())].op != ir::OpKind::kTranspose)
      out.pop_back();
    bool useful = has_transpose(g, out);
    for (const auto& chain : in) useful = useful || has_transpose(g, chain);
    if (!useful) continue;
    std::vector<int32_t> grp = {l};
    for (const auto& chain : in) grp.insert(grp.end(), chain.begin(), chain.end());
    grp.insert(grp.end(), out.begin(), out.end());
    std::sort(grp.begin(), grp.end());
    grp.erase(std::unique(grp.begin(), grp.end()), grp.end());
    for (int32_t m : grp) taken[static_cast<size_t>(m)] = true;
    groups.push_back(std::move(grp));
  }
  return groups;
}

namespace {

// What one run reads and writes: q, k, v (and the mask) as views into the tensors the chains
// start from, the output as a view into the tensor the output chain ends in.
struct Resolved {
  std::vector<TensorView> in;
  TensorView out;
  AttentionStrides strides;
};

class AttentionViewsKernel final : public backend::Kernel {
 public:
  AttentionViewsKernel(const ir::Graph& g, const backend::KernelRecord& rec, AttentionChains c)
      : g_(g),
        chains_(std::move(c)),
        cudnn_(is_cudnn_attention_kernel(rec.kernel)),
        describe_(rec.kernel + "#" + std::to_string(rec.tactic) + "+views") {
    for (int32_t l : rec.layers)
      members_.push_back(make_layer_kernel(g.layers[static_cast<size_t>(l)]));
  }

  Status run(const backend::RunContext& ctx) const override {
    auto r = resolve(ctx.tensors);
    if (!r) return run_members(ctx);  // views these shapes cannot express: copy as the layers do
    const ir::Layer& a = g_.layers[static_cast<size_t>(chains_.attention)];
    auto stream = static_cast<cudaStream_t>(ctx.stream);
    auto& state = *static_cast<CudaState*>(ctx.backend_state);
    if (cudnn_) {
      Status s = run_cudnn_attention(a, r->in, r->out, &r->strides, ctx.workspace,
                                     ctx.workspace_bytes, stream, state);
      if (s.code() != StatusCode::kUnsupported) return s;
    }
    LaunchArgs args{
        a,      r->in, std::span<const TensorView>(&r->out, 1), ctx.workspace, ctx.workspace_bytes,
        stream, state};
    return launch_attention_strided(args, &r->strides);
  }

  size_t workspace_bytes(std::span<const TensorView> tensors) const override {
    size_t ws = 0;
    for (const auto& k : members_) ws = std::max(ws, k->workspace_bytes(tensors));
    if (cudnn_) {
      auto r = resolve(tensors);
      if (r) {
        const ir::Layer& a = g_.layers[static_cast<size_t>(chains_.attention)];
        ws = std::max(ws, cudnn_attention_workspace(a, r->in, r->out, &r->strides));
      }
    }
    return ws;
  }

  std::string describe() const override { return describe_; }

 private:
  Status run_members(const backend::RunContext& ctx) const {
    for (const auto& k : members_) KILN_RETURN_IF_ERROR(k->run(ctx));
    return {};
  }

  // A view of `dims` at `layout` in `base`, its strides into `st` slot `o`; fails unless the last
  // dim is contiguous.
  static Status place(const TensorView& base, const StridedLayout& layout, const Dims& dims,
                      DataType dt, int o, Resolved& r, TensorView& view) {
    const int rank = dims.rank();
    if (!(layout.dims == dims) || (dims[rank - 1] > 1 && layout.strides[rank - 1] != 1))
      return make_error(StatusCode::kUnsupported, "backends.cuda", "not a row-major view");
    view = TensorView{
        static_cast<uint8_t*>(base.data) + layout.offset * static_cast<int64_t>(dtype_size(dt)), dt,
        dims};
    for (int d = 0; d < rank - 2; ++d)  // a dim of one element: any stride reads the same
      r.strides.batch[o][d] = dims[d] == 1 ? 0 : layout.strides[static_cast<size_t>(d)];
    r.strides.row[o] = dims[rank - 2] == 1 ? 0 : layout.strides[static_cast<size_t>(rank - 2)];
    return {};
  }

  Expected<Resolved> resolve(std::span<const TensorView> tensors) const {
    const ir::Layer& a = g_.layers[static_cast<size_t>(chains_.attention)];
    const TensorView& own = tensors[static_cast<size_t>(a.outputs[0])];
    const Dims& kd = tensors[static_cast<size_t>(a.inputs[1])].dims;
    if (own.numel() == 0 || kd[kd.rank() - 2] == 0)  // empty: the layers' own kernels handle it
      return make_error(StatusCode::kUnsupported, "backends.cuda", "empty attention");
    Resolved r;
    r.in.resize(a.inputs.size());
    for (size_t i = 0; i < a.inputs.size(); ++i)
      if (a.inputs[i] >= 0) r.in[i] = tensors[static_cast<size_t>(a.inputs[i])];
    for (int o = 0; o < 3; ++o) {
      const auto& chain = chains_.in[static_cast<size_t>(o)];
      const TensorView& operand = r.in[static_cast<size_t>(o)];
      if (chain.empty()) {
        KILN_RETURN_IF_ERROR(place(operand, contiguous_layout(operand.dims), operand.dims,
                                   operand.dtype, o, r, r.in[static_cast<size_t>(o)]));
        continue;
      }
      KILN_ASSIGN_OR_RETURN(auto layout, read_through(g_, chain, tensors));
      const int32_t base = g_.layers[static_cast<size_t>(chain.front())].inputs[0];
      KILN_RETURN_IF_ERROR(place(tensors[static_cast<size_t>(base)], layout, operand.dims,
                                 operand.dtype, o, r, r.in[static_cast<size_t>(o)]));
    }
    if (chains_.out.empty()) {
      KILN_RETURN_IF_ERROR(
          place(own, contiguous_layout(own.dims), own.dims, own.dtype, 3, r, r.out));
    } else {
      KILN_ASSIGN_OR_RETURN(auto layout, write_through(g_, chains_.out, tensors));
      const int32_t dst = g_.layers[static_cast<size_t>(chains_.out.back())].outputs[0];
      KILN_RETURN_IF_ERROR(
          place(tensors[static_cast<size_t>(dst)], layout, own.dims, own.dtype, 3, r, r.out));
    }
    return r;
  }

  const ir::Graph& g_;
  AttentionChains chains_;
  bool cudnn_;
  std::string describe_;
  std::vector<std::unique_ptr<backend::Kernel>> members_;  // the fallback, in graph order
};

Status bad_record(const std::string& why) {
  return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                    "bad attention-views record: " + why);
}

}  // namespace

Expected<std::unique_ptr<backend::Kernel>> create_attention_views_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec) {
  std::vector<bool> member(g.layers.size(), false);
  int32_t attention = -1;
  for (int32_t l : rec.layers) {
    if (l < 0 || static_cast<size_t>(l) >= g.layers.size()) return bad_record("layer id");
    member[static_cast<size_t>(l)] = true;
    if (g.layers[static_cast<size_t>(l)].op != ir::OpKind::kAttention) continue;
    if (attention >= 0) return bad_record("two attention layers");
    attention = l;
  }
  if (attention < 0) return bad_record("no attention layer");
  if (!std::is_sorted(rec.layers.begin(), rec.layers.end()))
    return bad_record("layers out of graph order");
  AttentionChains c = chains_within(g, attention, member);
  for (const auto& chain : c.in) {
    for (int32_t l : chain)
      if (!is_view_chain_layer(g.layers[static_cast<size_t>(l)])) return bad_record("not a view");
  }
  // Shared chain layers (one transpose feeding q, k and v) count once.
  std::vector<int32_t> all = {attention};
  for (const auto& chain : c.in) all.insert(all.end(), chain.begin(), chain.end());
  for (int32_t l : c.out) {
    if (!writable_view(g.layers[static_cast<size_t>(l)])) return bad_record("output chain");
    all.push_back(l);
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (all != rec.layers) return bad_record("layers outside the attention's view chains");
  return std::unique_ptr<backend::Kernel>(
      std::make_unique<AttentionViewsKernel>(g, rec, std::move(c)));
}

}  // namespace kiln::cuda
