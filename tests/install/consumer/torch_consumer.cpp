// Compiles a small TorchScript module with the installed torch bridge on the CPU backend, runs it
// and checks it against the module run by libtorch. Exit 0 when it matches.
#include <torch/script.h>

#include <cstdio>

#include "api/compile_spec.h"

int main() {
  torch::jit::Module m("Small");
  m.register_parameter("w", torch::randn({8, 16}), false);
  m.define(R"(
def forward(self, x):
    return torch.relu(torch.matmul(x, self.w.t()) + 1.0) * 2.0
)");
  kiln::torchscript::CompileSpec spec({kiln::torchscript::Input({1, 16}, {4, 16}, {8, 16})});
  spec.device.type = kiln::torchscript::DeviceType::kCPU;
  spec.min_block_size = 1;
  spec.require_full_compilation = true;
  auto compiled = kiln::torchscript::compile(m, spec);
  if (!compiled) {
    std::printf("compile failed: %s\n", compiled.status().to_string().c_str());
    return 1;
  }
  torch::Tensor x = torch::randn({5, 16});
  torch::Tensor want = m.forward({x}).toTensor();
  torch::Tensor got = compiled->forward({x}).toTensor();
  if (!torch::allclose(got, want, 1e-4, 1e-4)) {
    std::printf("mismatch: max abs diff %f\n", (got - want).abs().max().item<float>());
    return 1;
  }
  std::printf("torch_consumer: ok\n");
  return 0;
}
