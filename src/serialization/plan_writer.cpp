// PlanContents -> bytes.
#include <map>
#include <type_traits>

#include "serialization/byte_io.h"
#include "serialization/plan_contents.h"
#include "serialization/xxhash64.h"

namespace kiln::serial {
namespace {

enum SectionKind : uint32_t { kMeta = 1, kGraph = 2, kKernels = 3, kProfiles = 4, kWeights = 5 };

void write_dims(ByteWriter& w, const Dims& d) {
  w.u8(static_cast<uint8_t>(d.rank()));
  for (int64_t x : d) w.i64(x);
}

template <class T>
void write_field(ByteWriter& w, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    w.u8(v ? 1 : 0);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    w.i64(v);
  } else if constexpr (std::is_same_v<T, double>) {
    w.f64(v);
  } else if constexpr (std::is_enum_v<T>) {
    w.u8(static_cast<uint8_t>(v));
  } else {
    w.u32(static_cast<uint32_t>(v.size()));
    for (const auto& x : v) write_field(w, x);
  }
}

void write_params(ByteWriter& w, const ir::LayerParams& params) {
  std::visit(
      [&](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        P::visit(p, [&](const char*, const auto& field) { write_field(w, field); });
      },
      params);
}

// Lays out weights once each (identical bytes shared), 256-byte aligned; returns per-weight
// offsets.
std::vector<uint64_t> layout_weights(const ir::Graph& g, ByteWriter& out) {
  std::vector<uint64_t> offsets(g.weights.size());
  std::multimap<uint64_t, size_t> by_hash;
  for (size_t i = 0; i < g.weights.size(); ++i) {
    const auto& bytes = *g.weights[i].bytes;
    uint64_t h = xxhash64(bytes.data(), bytes.size());
    bool found = false;
    auto [lo, hi] = by_hash.equal_range(h);
    for (auto it = lo; it != hi; ++it) {
      const auto& other = *g.weights[it->second].bytes;
      if (other == bytes) {
        offsets[i] = offsets[it->second];
        found = true;
        break;
      }
    }
    if (found) continue;
    out.align(kWeightAlignment);
    offsets[i] = out.size();
    out.raw(bytes.data(), bytes.size());
    by_hash.emplace(h, i);
  }
  return offsets;
}

void write_graph(ByteWriter& w, const ir::Graph& g, const std::vector<uint64_t>& weight_offsets) {
  w.u32(static_cast<uint32_t>(g.tensors.size()));
  for (const auto& t : g.tensors) {
    w.str(t.name);
    w.u8(static_cast<uint8_t>(t.type.dtype));
    write_dims(w, t.type.dims);
    w.i32(t.producer);
    w.i32(t.producer_output);
    w.u8(static_cast<uint8_t>((t.is_input ? 1 : 0) | (t.is_output ? 2 : 0)));
  }
  w.u32(static_cast<uint32_t>(g.layers.size()));
  for (const auto& l : g.layers) {
    w.u8(static_cast<uint8_t>(l.op));
    w.str(l.name);
    w.u32(static_cast<uint32_t>(l.inputs.size()));
    for (int32_t i : l.inputs) w.i32(i);
    w.u32(static_cast<uint32_t>(l.outputs.size()));
    for (int32_t o : l.outputs) w.i32(o);
    w.u8(l.precision ? static_cast<uint8_t>(*l.precision) : 0xff);
    w.u8(l.user_precision ? 1 : 0);
    write_params(w, l.params);
  }
  w.u32(static_cast<uint32_t>(g.inputs.size()));
  for (int32_t i : g.inputs) w.i32(i);
  w.u32(static_cast<uint32_t>(g.outputs.size()));
  for (int32_t o : g.outputs) w.i32(o);
  w.u32(static_cast<uint32_t>(g.weights.size()));
  for (size_t i = 0; i < g.weights.size(); ++i) {
    w.u8(static_cast<uint8_t>(g.weights[i].type.dtype));
    write_dims(w, g.weights[i].type.dims);
    w.u64(weight_offsets[i]);
    w.u64(g.weights[i].bytes->size());
  }
}

}  // namespace

Expected<std::vector<uint8_t>> write_plan(const PlanContents& plan) {
  ByteWriter weights;
  std::vector<uint64_t> weight_offsets = layout_weights(plan.graph, weights);

  ByteWriter meta;
  meta.str(plan.producer_version);
  meta.str(plan.backend);
  meta.i32(plan.device);
  meta.u32(static_cast<uint32_t>(plan.precisions.size()));
  for (Precision p : plan.precisions) meta.u8(static_cast<uint8_t>(p));
  meta.i32(plan.optimization_level);
  meta.u64(plan.workspace_limit);
  const BuildSwitches& sw = plan.switches;
  meta.u8(static_cast<uint8_t>(sw.layout));
  meta.u8(sw.layout_any_backend ? 1 : 0);
  meta.u8(plan.channels_last_applied ? 1 : 0);
  meta.u8(sw.fuse_epilogues ? 1 : 0);
  meta.u8(sw.fuse_pointwise ? 1 : 0);
  meta.str(sw.conv_impl);
  meta.u8(sw.cudnn_legacy_only ? 1 : 0);
  meta.u32(static_cast<uint32_t>(sw.disabled_passes.size()));
  for (const auto& name : sw.disabled_passes) meta.str(name);
  meta.u32(static_cast<uint32_t>(plan.precision_report.size()));
  for (const auto& p : plan.precision_report) {
    meta.str(p.layer);
    meta.str(p.precision);
    meta.str(p.reason);
  }

  ByteWriter graph;
  write_graph(graph, plan.graph, weight_offsets);

  ByteWriter kernels;
  kernels.u32(static_cast<uint32_t>(plan.kernels.size()));
  for (const auto& k : plan.kernels) {
    kernels.u32(static_cast<uint32_t>(k.layers.size()));
    for (int32_t l : k.layers) kernels.i32(l);
    kernels.str(k.kernel);
    kernels.i64(k.tactic);
    kernels.u32(static_cast<uint32_t>(k.config.size()));
    kernels.raw(k.config.data(), k.config.size());
  }

  ByteWriter profiles;
  profiles.u32(static_cast<uint32_t>(plan.profiles.size()));
  for (const auto& p : plan.profiles) {
    profiles.u32(static_cast<uint32_t>(p.ranges.size()));
    for (const auto& [name, r] : p.ranges) {
      profiles.str(name);
      write_dims(profiles, r.min);
      write_dims(profiles, r.opt);
      write_dims(profiles, r.max);
    }
  }

  struct Section {
    SectionKind kind;
    ByteWriter* data;
    size_t align;
  };
  Section sections[] = {{kMeta, &meta, 8},
                        {kGraph, &graph, 8},
                        {kKernels, &kernels, 8},
                        {kProfiles, &profiles, 8},
                        {kWeights, &weights, kWeightAlignment}};
  constexpr uint32_t kNumSections = 5;

  ByteWriter out;
  out.raw(kPlanMagic, 8);
  out.u32(kPlanFormatVersion);
  out.u32(static_cast<uint32_t>(kPlanHeaderBytes));
  out.u64(0);  // total size, patched
  out.u64(0);  // checksum, patched
  out.u32(kNumSections);
  out.align(kPlanHeaderBytes);
  size_t table = out.size();
  for (uint32_t i = 0; i < kNumSections; ++i) {
    out.u32(sections[i].kind);
    out.u32(0);
    out.u64(0);
    out.u64(0);
  }
  for (uint32_t i = 0; i < kNumSections; ++i) {
    out.align(sections[i].align);
    size_t off = out.size();
    out.raw(sections[i].data->bytes().data(), sections[i].data->size());
    out.patch_u64(table + i * 24 + 8, off);
    out.patch_u64(table + i * 24 + 16, sections[i].data->size());
  }
  out.patch_u64(16, out.size());
  out.patch_u64(24, xxhash64(out.bytes().data(), out.size()));
  return std::move(out.bytes());
}

}  // namespace kiln::serial
