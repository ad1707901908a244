// libFuzzer target: the TorchBind pickle path of torch.classes.kiln.Engine —
// TorchEngine::from_state, what torch.jit.load / torch.load call with the unpickled (version, plan,
// input names, output names, name) tuple. Input: one mode byte, then the plan bytes. Mode bits: 0
// names taken from the plan itself (else none), 1 a wrong state version, 2 one output name dropped,
// 3 the plan as a 2-D tensor. Every input must load or be refused with a c10::Error; nothing else
// may happen.
#include <ATen/ATen.h>

#include <cstring>

#include "kiln/kiln.h"
#include "runtime/engine_class.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::span<const uint8_t> plan_bytes(data + 1, size - 1);
  std::vector<std::string> ins, outs;
  if (mode & 1) {  // the names the plan declares (a refused plan declares none)
    auto e = kiln::Runtime::load(plan_bytes);
    if (e.ok()) {
      for (int i = 0; i < (*e)->num_io_tensors(); ++i) {
        const auto& io = (*e)->io_tensor(i);
        (io.is_input ? ins : outs).push_back(io.name);
      }
    }
  }
  if ((mode & 4) && !outs.empty()) outs.pop_back();
  at::Tensor plan = at::empty({static_cast<int64_t>(plan_bytes.size())}, at::kByte);
  if (!plan_bytes.empty()) std::memcpy(plan.data_ptr(), plan_bytes.data(), plan_bytes.size());
  if (mode & 8) plan = plan.reshape({1, -1});
  int64_t version = (mode & 2) ? kiln::bridge::TorchEngine::kStateVersion + 1
                               : kiln::bridge::TorchEngine::kStateVersion;
  try {
    auto engine = kiln::bridge::TorchEngine::from_state({version, plan, ins, outs, "fuzz"});
    (void)engine->describe();
    (void)engine->output_dtypes();
  } catch (const c10::Error&) {
    // refused with a message: the expected outcome for damaged states
  }
  return 0;
}
