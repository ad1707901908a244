// Shared test helpers.
#include "test_util.h"

#include <cmath>
#include <sstream>

#include "common/element_access.h"
#include "ir/analysis.h"

namespace kiln::testing {

uint32_t rng_seed() {
  static const uint32_t seed = [] {
    const char* env = std::getenv("KILN_TEST_SEED");
    if (env != nullptr) return static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
    return std::random_device{}();
  }();
  return seed;
}

std::mt19937& rng() {
  static std::mt19937 gen = [] {
    std::printf("[kiln test] KILN_TEST_SEED=%u\n", rng_seed());
    return std::mt19937(rng_seed());
  }();
  return gen;
}

HostTensor random_tensor(DataType dt, const Dims& dims, double lo, double hi) {
  HostTensor t(TensorType{dt, dims});
  int64_t n = dims.volume();
  if (dt == DataType::kBool) {
    std::bernoulli_distribution d(0.5);
    for (int64_t i = 0; i < n; ++i) store_from_double(t.data(), dt, i, d(rng()) ? 1.0 : 0.0);
  } else if (is_integer(dt)) {
    std::uniform_int_distribution<int64_t> d(static_cast<int64_t>(std::ceil(lo)),
                                             static_cast<int64_t>(std::ceil(hi)) - 1);
    for (int64_t i = 0; i < n; ++i) store_from_int64(t.data(), dt, i, d(rng()));
  } else {
    std::uniform_real_distribution<double> d(lo, hi);
    for (int64_t i = 0; i < n; ++i) store_from_double(t.data(), dt, i, d(rng()));
  }
  return t;
}

HostTensor make_tensor(DataType dt, const Dims& dims, const std::vector<double>& values) {
  HostTensor t(TensorType{dt, dims});
  EXPECT_EQ(static_cast<int64_t>(values.size()), dims.volume())
      << "make_tensor: value count mismatch";
  for (int64_t i = 0; i < dims.volume() && i < static_cast<int64_t>(values.size()); ++i) {
    if (is_integer(dt)) {
      store_from_int64(t.data(), dt, i, static_cast<int64_t>(values[static_cast<size_t>(i)]));
    } else {
      store_from_double(t.data(), dt, i, values[static_cast<size_t>(i)]);
    }
  }
  return t;
}

double at(const HostTensor& t, int64_t i) { return load_as_double(t.data(), t.type.dtype, i); }

std::vector<double> to_doubles(const HostTensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = at(t, i);
  return v;
}

Tensor add_constant(Network& net, const HostTensor& t) {
  auto c = net.add_constant(t.type.dims, t.type.dtype, t.data());
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? *c : Tensor{};
}

Expected<std::vector<HostTensor>> run_engine(const Engine& engine,
                                             const std::vector<HostTensor>& inputs, int profile) {
  auto ctx = engine.create_context();
  if (!ctx) return ctx.status();
  KILN_RETURN_IF_ERROR((*ctx)->set_optimization_profile(profile));
  int n_in = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) n_in += engine.io_tensor(i).is_input ? 1 : 0;
  if (static_cast<int>(inputs.size()) != n_in) {
    return make_error(
        StatusCode::kInvalidArgument, "test",
        "engine has " + std::to_string(n_in) + " inputs, got " + std::to_string(inputs.size()));
  }
  std::vector<HostTensor> in_copy = inputs;
  int k = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const IOTensorInfo& io = engine.io_tensor(i);
    if (!io.is_input) continue;
    HostTensor& t = in_copy[static_cast<size_t>(k++)];
    KILN_RETURN_IF_ERROR((*ctx)->bind(io.name, t.data(), t.type.dtype, t.type.dims));
  }
  std::vector<HostTensor> outs;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const IOTensorInfo& io = engine.io_tensor(i);
    if (io.is_input) continue;
    auto dims = (*ctx)->tensor_shape(io.name);
    if (!dims) return dims.status();
    outs.emplace_back(TensorType{io.dtype, *dims});
  }
  // Poison outputs so unwritten elements show up.
  for (auto& o : outs) std::fill(o.bytes.begin(), o.bytes.end(), 0xA5);
  int j = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const IOTensorInfo& io = engine.io_tensor(i);
    if (io.is_input) continue;
    HostTensor& t = outs[static_cast<size_t>(j++)];
    KILN_RETURN_IF_ERROR((*ctx)->bind(io.name, t.data(), t.type.dtype, t.type.dims));
  }
  KILN_RETURN_IF_ERROR((*ctx)->execute());
  return outs;
}

serial::PlanContents build_contents(const Network& net, BuilderConfig cfg) {
  if (cfg.backend.empty()) cfg.backend = "cpu";
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  if (!plan.ok()) return {};
  auto c = serial::read_plan(plan->bytes);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(*c) : serial::PlanContents{};
}

std::vector<int32_t> device_layer_list(const ir::Graph& g) {
  std::vector<bool> e = ir::device_layers(g);
  std::vector<int32_t> out;
  for (size_t l = 0; l < e.size(); ++l)
    if (e[l]) out.push_back(static_cast<int32_t>(l));
  return out;
}

int32_t producer_of(const ir::Graph& g, const Tensor& t) {
  return g.tensors[static_cast<size_t>(t.id())].producer;
}

int count_ops(const ir::Graph& g, ir::OpKind op) {
  int n = 0;
  for (const auto& l : g.layers) n += l.op == op;
  return n;
}

Expected<std::vector<HostTensor>> try_build_and_run(const Network& net,
                                                    const std::vector<HostTensor>& inputs,
                                                    BuilderConfig cfg) {
  if (cfg.backend.empty()) cfg.backend = "cpu";
  auto plan = Builder::build(net, cfg);
  if (!plan) return plan.status();
  auto engine = Runtime::load(plan->bytes);
  if (!engine) return engine.status();
  return run_engine(**engine, inputs, 0);
}

std::vector<HostTensor> build_and_run(const Network& net, const std::vector<HostTensor>& inputs,
                                      BuilderConfig cfg) {
  auto r = try_build_and_run(net, inputs, std::move(cfg));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return {};
  return std::move(*r);
}

double default_tolerance(DataType dt) {
  switch (dt) {
    case DataType::kFloat32:
      return 1e-4;
    case DataType::kFloat16:
      return 1e-2;
    case DataType::kBFloat16:
      return 5e-2;
    case DataType::kFloat64:
      return 1e-12;
    default:
      return 0.0;
  }
}

::testing::AssertionResult all_close(const HostTensor& got, const std::vector<double>& want,
                                     double rtol, double atol) {
  if (got.numel() != static_cast<int64_t>(want.size())) {
    return ::testing::AssertionFailure()
           << "size mismatch: got " << got.numel() << " elements, want " << want.size();
  }
  int64_t bad = 0, worst = -1;
  double worst_err = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = at(got, i), w = want[static_cast<size_t>(i)];
    bool ok;
    if (std::isnan(w) || std::isnan(g)) {
      ok = std::isnan(w) && std::isnan(g);
    } else if (std::isinf(w) || std::isinf(g)) {
      ok = g == w;
    } else {
      ok = std::fabs(g - w) <= atol + rtol * std::fabs(w);
    }
    if (!ok) {
      ++bad;
      double err = std::isnan(g - w) ? INFINITY : std::fabs(g - w);
      if (worst < 0 || err > worst_err) {
        worst = i;
        worst_err = err;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.numel() << " elements differ (rtol " << rtol << ", atol " << atol
         << "); worst at " << worst << ": got " << at(got, worst) << ", want "
         << want[static_cast<size_t>(worst)] << " (seed " << rng_seed() << ")";
}

::testing::AssertionResult has_type(const HostTensor& got, DataType dt, const Dims& dims) {
  if (got.type.dtype == dt && got.type.dims == dims) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << dtype_name(got.type.dtype) << got.type.dims.to_string() << ", want "
         << dtype_name(dt) << dims.to_string();
}

std::vector<int64_t> unflatten(int64_t i, const Dims& d) {
  std::vector<int64_t> idx(static_cast<size_t>(d.rank()));
  for (int k = d.rank() - 1; k >= 0; --k) {
    idx[static_cast<size_t>(k)] = d[k] == 0 ? 0 : i % d[k];
    i = d[k] == 0 ? 0 : i / d[k];
  }
  return idx;
}

int64_t flatten(const std::vector<int64_t>& idx, const Dims& d) {
  int64_t f = 0;
  for (int k = 0; k < d.rank(); ++k) f = f * d[k] + idx[static_cast<size_t>(k)];
  return f;
}

}  // namespace kiln::testing
