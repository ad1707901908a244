// bytes -> PlanContents. Treats the input as untrusted: header, size and checksum are checked
// first, every count is bounded by the bytes left, every enum and index is range-checked.
#include <cstring>
#include <map>
#include <type_traits>

#include "serialization/byte_io.h"
#include "serialization/plan_contents.h"
#include "serialization/xxhash64.h"

namespace kiln::serial {
namespace {

enum SectionKind : uint32_t { kMeta = 1, kGraph = 2, kKernels = 3, kProfiles = 4, kWeights = 5 };

Status corrupt(const std::string& msg) {
  return make_error(StatusCode::kCorruptPlan, "serialization.plan", msg);
}

Dims read_dims(ByteReader& r) {
  uint8_t rank = r.u8();
  Dims d;
  if (rank > kMaxRank) {
    r.fail("rank " + std::to_string(rank) + " exceeds " + std::to_string(kMaxRank));
    return d;
  }
  for (uint8_t i = 0; i < rank && r.ok(); ++i) {
    int64_t x = r.i64();
    if (x < kDynamic) r.fail("negative dim " + std::to_string(x));
    d.push_back(x);
  }
  return d;
}

DataType read_dtype(ByteReader& r) {
  uint8_t v = r.u8();
  if (v >= kNumDataTypes) r.fail("invalid dtype " + std::to_string(v));
  return static_cast<DataType>(v < kNumDataTypes ? v : 0);
}

template <class T>
void read_field(ByteReader& r, T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    uint8_t b = r.u8();
    if (b > 1) r.fail("invalid bool");
    v = b == 1;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    v = r.i64();
  } else if constexpr (std::is_same_v<T, double>) {
    v = r.f64();
  } else if constexpr (std::is_enum_v<T>) {
    uint8_t e = r.u8();
    if (e >= enum_names(T{}).size()) r.fail("invalid enum value " + std::to_string(e));
    v = static_cast<T>(e < enum_names(T{}).size() ? e : 0);
  } else {
    uint32_t n = r.count(8, "parameter list");
    v.clear();
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      typename T::value_type x{};
      read_field(r, x);
      v.push_back(x);
    }
  }
}

template <size_t... I>
void emplace_index(ir::LayerParams& p, size_t want, std::index_sequence<I...>) {
  ((want == I ? (p.template emplace<I>(), 0) : 0), ...);
}

void read_params(ByteReader& r, ir::OpKind op, ir::LayerParams& params) {
  emplace_index(params, static_cast<size_t>(op), std::make_index_sequence<ir::kNumOps>{});
  std::visit(
      [&](auto& p) {
        using P = std::decay_t<decltype(p)>;
        P::visit(p, [&](const char*, auto& field) { read_field(r, field); });
      },
      params);
}

std::vector<int32_t> read_ids(ByteReader& r, const char* what) {
  uint32_t n = r.count(4, what);
  std::vector<int32_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = r.i32();
  return v;
}

void read_graph(ByteReader& r, std::span<const uint8_t> weights, ir::Graph& g) {
  uint32_t nt = r.count(15, "tensor");
  g.tensors.resize(nt);
  for (auto& t : g.tensors) {
    t.name = r.str();
    t.type.dtype = read_dtype(r);
    t.type.dims = read_dims(r);
    t.producer = r.i32();
    t.producer_output = r.i32();
    uint8_t flags = r.u8();
    t.is_input = (flags & 1) != 0;
    t.is_output = (flags & 2) != 0;
    if (!r.ok()) return;
  }
  uint32_t nl = r.count(16, "layer");
  g.layers.resize(nl);
  for (auto& l : g.layers) {
    uint8_t op = r.u8();
    if (op >= ir::kNumOps) {
      r.fail("invalid op " + std::to_string(op));
      return;
    }
    l.op = static_cast<ir::OpKind>(op);
    l.name = r.str();
    l.inputs = read_ids(r, "layer input");
    l.outputs = read_ids(r, "layer output");
    uint8_t prec = r.u8();
    if (prec != 0xff) {
      if (prec >= kNumDataTypes) r.fail("invalid layer precision");
      l.precision = static_cast<DataType>(prec < kNumDataTypes ? prec : 0);
    }
    l.user_precision = r.u8() != 0;
    read_params(r, l.op, l.params);
    if (!r.ok()) return;
  }
  g.inputs = read_ids(r, "input");
  g.outputs = read_ids(r, "output");
  uint32_t nw = r.count(18, "weight");
  g.weights.resize(nw);
  std::map<uint64_t, std::shared_ptr<const std::vector<uint8_t>>> shared;  // weights stored once
  for (auto& w : g.weights) {
    w.type.dtype = read_dtype(r);
    w.type.dims = read_dims(r);
    uint64_t off = r.u64();
    uint64_t size = r.u64();
    if (!r.ok()) return;
    if (off > weights.size() || size > weights.size() - off) {
      r.fail("weight [" + std::to_string(off) + ", +" + std::to_string(size) +
             ") lies outside the weight section");
      return;
    }
    if (!w.type.dims.is_static() ||
        size != static_cast<uint64_t>(w.type.dims.volume()) * dtype_size(w.type.dtype)) {
      r.fail("weight size does not match its type");
      return;
    }
    auto& slot = shared[off];
    if (!slot || slot->size() != size) {
      slot = std::make_shared<const std::vector<uint8_t>>(
          weights.begin() + static_cast<long>(off),
          weights.begin() + static_cast<long>(off + size));
    }
    w.bytes = slot;
  }
}

bool read_bool(ByteReader& r, const char* what) {
  uint8_t b = r.u8();
  if (b > 1) r.fail(std::string("invalid ") + what + " flag " + std::to_string(b));
  return b == 1;
}

// The build switches and the precision report at META's end (formats 4, 5); values are checked as
// the builder checks them.
void read_switches(ByteReader& r, PlanContents& plan) {
  BuildSwitches& sw = plan.switches;
  uint8_t layout = r.u8();
  const bool layout_ok = layout <= static_cast<uint8_t>(LayoutChoice::kNHWC);
  if (!layout_ok) r.fail("invalid layout " + std::to_string(layout));
  sw.layout = layout_ok ? static_cast<LayoutChoice>(layout) : LayoutChoice::kAuto;
  sw.layout_any_backend = read_bool(r, "layout_any_backend");
  plan.channels_last_applied = read_bool(r, "channels_last_applied");
  sw.fuse_epilogues = read_bool(r, "fuse_epilogues");
  sw.fuse_pointwise = read_bool(r, "fuse_pointwise");
  sw.conv_impl = r.str(64);
  sw.cudnn_legacy_only = read_bool(r, "cudnn_legacy_only");
  uint32_t n = r.count(4, "disabled pass");
  for (uint32_t i = 0; i < n && r.ok(); ++i) sw.disabled_passes.push_back(r.str(128));
  uint32_t np = r.count(12, "precision report entry");
  for (uint32_t i = 0; i < np && r.ok(); ++i) {
    LayerPrecision p;
    p.layer = r.str(4096);
    p.precision = r.str(16);
    p.reason = r.str(4096);
    plan.precision_report.push_back(std::move(p));
  }
  if (!r.ok()) return;
  Status v = validate_build_switches(sw);
  if (!v.ok()) r.fail(v.message());
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected trailing bytes");
}

}  // namespace

Expected<PlanContents> read_plan(std::span<const uint8_t> bytes) {
  if (bytes.size() < kPlanHeaderBytes)
    return corrupt("plan is " + std::to_string(bytes.size()) +
                   " bytes, smaller than its header (truncated?)");
  if (std::memcmp(bytes.data(), kPlanMagic, 8) != 0) return corrupt("not a Kiln plan (bad magic)");
  ByteReader h(bytes.subspan(8, kPlanHeaderBytes - 8), "plan header");
  uint32_t version = h.u32();
  uint32_t header_bytes = h.u32();
  uint64_t total = h.u64();
  uint64_t checksum = h.u64();
  uint32_t num_sections = h.u32();
  if (version != kPlanFormatVersion) {
    return make_error(StatusCode::kVersionMismatch, "serialization.plan",
                      "plan format version " + std::to_string(version) +
                          " is not supported (this build reads " +
                          std::to_string(kPlanFormatVersion) + ")");
  }
  if (header_bytes != kPlanHeaderBytes)
    return corrupt("unexpected header size " + std::to_string(header_bytes));
  if (total != bytes.size()) {
    return corrupt("plan header says " + std::to_string(total) + " bytes but " +
                   std::to_string(bytes.size()) + " were given (truncated or padded)");
  }
  XxHash64 hasher;
  static const uint8_t kZeros[8] = {};
  hasher.update(bytes.data(), 24);
  hasher.update(kZeros, 8);
  hasher.update(bytes.data() + 32, bytes.size() - 32);
  if (hasher.digest() != checksum)
    return corrupt("checksum mismatch: the plan was altered or damaged");
  if (num_sections != 5)
    return corrupt("expected 5 sections, found " + std::to_string(num_sections));

  ByteReader table(bytes.subspan(kPlanHeaderBytes), "section table");
  std::span<const uint8_t> sec[6];
  for (uint32_t i = 0; i < num_sections; ++i) {
    uint32_t kind = table.u32();
    table.u32();
    uint64_t off = table.u64();
    uint64_t size = table.u64();
    if (!table.ok()) return corrupt(table.error());
    if (kind < 1 || kind > 5 || !sec[kind].empty())
      return corrupt("bad or repeated section kind " + std::to_string(kind));
    if (off > bytes.size() || size > bytes.size() - off)
      return corrupt("section " + std::to_string(kind) + " lies outside the plan");
    sec[kind] = bytes.subspan(off, size);
  }

  PlanContents plan;
  ByteReader meta(sec[kMeta], "META section");
  plan.producer_version = meta.str(256);
  plan.backend = meta.str(64);
  plan.device = meta.i32();
  uint32_t np = meta.count(1, "precision");
  for (uint32_t i = 0; i < np; ++i) {
    uint8_t p = meta.u8();
    if (p > static_cast<uint8_t>(Precision::kFP8)) meta.fail("invalid precision");
    plan.precisions.push_back(static_cast<Precision>(p));
  }
  plan.optimization_level = meta.i32();
  plan.workspace_limit = meta.u64();
  read_switches(meta, plan);
  if (!meta.ok()) return corrupt(meta.error());

  ByteReader graph(sec[kGraph], "GRAPH section");
  read_graph(graph, sec[kWeights], plan.graph);
  if (!graph.ok()) return corrupt(graph.error());

  ByteReader kr(sec[kKernels], "KERNELS section");
  uint32_t nk = kr.count(20, "kernel");
  plan.kernels.resize(nk);
  for (auto& k : plan.kernels) {
    k.layers = read_ids(kr, "kernel layer");
    k.kernel = kr.str(256);
    k.tactic = kr.i64();
    uint32_t nc = kr.count(1, "kernel config byte");
    if (!kr.ok()) break;
    std::span<const uint8_t> rest = sec[kKernels].subspan(kr.pos(), nc);
    k.config.assign(rest.begin(), rest.end());
    for (uint32_t i = 0; i < nc; ++i) kr.u8();
  }
  if (!kr.ok()) return corrupt(kr.error());

  ByteReader pr(sec[kProfiles], "PROFILES section");
  uint32_t nprof = pr.count(4, "profile");
  plan.profiles.resize(nprof);
  for (auto& p : plan.profiles) {
    uint32_t ne = pr.count(7, "profile entry");
    for (uint32_t i = 0; i < ne && pr.ok(); ++i) {
      std::string name = pr.str();
      ShapeRange range{read_dims(pr), read_dims(pr), read_dims(pr)};
      p.ranges[name] = range;
    }
  }
  if (!pr.ok()) return corrupt(pr.error());
  return plan;
}

}  // namespace kiln::serial
