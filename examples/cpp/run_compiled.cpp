// Runs a Kiln-compiled TorchScript module from C++ without Python: libtorch + libkiln_runtime.
//
//   kiln_run_compiled COMPILED.ts ORIGINAL.ts SHAPE[@DTYPE]...
//
// Loads both modules in this process, runs them on the same random inputs and prints the largest
// difference; exits 1 when they disagree (relative error above 1e-4 for float32).
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "converters/dtype_map.h"
#include "kiln/types.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s COMPILED.ts ORIGINAL.ts SHAPE[@DTYPE]...\n", argv[0]);
    return 2;
  }
  torch::jit::Module compiled, original;
  try {
    compiled = torch::jit::load(argv[1]);
    original = torch::jit::load(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  std::vector<c10::IValue> inputs;
  for (int i = 3; i < argc; ++i) {
    std::string arg = argv[i], dt = "f32";
    if (auto at = arg.find('@'); at != std::string::npos) {
      dt = arg.substr(at + 1);
      arg = arg.substr(0, at);
    }
    std::vector<int64_t> shape;
    std::stringstream ss(arg);
    std::string part;
    while (std::getline(ss, part, 'x')) shape.push_back(std::stoll(part));
    auto kdt = kiln::parse_dtype(dt);
    if (!kdt) {
      std::fprintf(stderr, "bad dtype %s\n", dt.c_str());
      return 2;
    }
    auto t = at::randn(shape);
    if (!kiln::is_floating(*kdt)) t = at::ones(shape);
    inputs.emplace_back(t.to(kiln::bridge::to_torch_dtype(*kdt)));
  }
  at::NoGradGuard no_grad;
  try {
    at::Tensor got = compiled.forward(inputs).toTensor();
    at::Tensor want = original.forward(inputs).toTensor();
    at::Tensor diff = got.to(at::kDouble) - want.to(at::kDouble);
    double wn = want.to(at::kDouble).norm().item<double>();
    double rel = diff.norm().item<double>() / std::max(wn, 1e-12);
    double max_abs = diff.abs().max().item<double>();
    std::printf("output %s: relative error vs the original module %.3g (max abs %.3g)\n",
                c10::str(got.sizes()).c_str(), rel, max_abs);
    return (rel < 1e-4 || max_abs < 1e-6) && !std::isnan(rel) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
