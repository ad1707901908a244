// The TorchBind pickle path of torch.classes.kiln.Engine (what torch.jit.load / torch.load run on a
// saved module): every damaged state is refused with a clear c10::Error before anything runs — bit
// flips anywhere in the plan, truncations, random bytes, a wrong state version, mismatched I/O
// names, a plan tensor of the wrong dtype or rank — and an intact state loads and matches eager. A
// seeded mutation fuzzer over real plans (the coverage-guided fuzzers of the plan bytes are in
// tests/fuzz).
#include <ATen/ATen.h>

#include <random>

#include "runtime/engine_class.h"
#include "torch_test_util.h"

namespace kiln {
namespace {

using bridge::TorchEngine;
using testing::cpu_spec;
using testing::module_from_source;

struct Compiled {
  torch::jit::Module module;
  TorchEngine::State state;
};

Compiled compile_small() {
  auto m = module_from_source(R"(
def forward(self, x):
    y = torch.relu(x * 2.0 + 1.0)
    return torch.softmax(y - x, -1)
)");
  auto c = torchscript::compile(m, cpu_spec({{{3, 6}, at::kFloat}}));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  auto engine = c->attr("__kiln_engine_0").toCustomClass<TorchEngine>();
  return {*c, engine->get_state()};
}

at::Tensor plan_of(const TorchEngine::State& s) { return std::get<1>(s).clone(); }

TorchEngine::State with_plan(const TorchEngine::State& s, at::Tensor plan) {
  return {std::get<0>(s), plan, std::get<2>(s), std::get<3>(s), std::get<4>(s)};
}

// Expects from_state to refuse `s` with a c10::Error carrying Kiln's prefix; returns the message.
std::string expect_refused(const TorchEngine::State& s) {
  try {
    TorchEngine::from_state(s);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("[kiln]"), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "a damaged engine state was accepted";
  return {};
}

TEST(EnginePickle, IntactStateLoadsAndMatchesEager) {
  Compiled c = compile_small();
  auto engine = TorchEngine::from_state(c.state);
  auto x = at::randn({3, 6});
  auto got = bridge::execute_engine({x}, engine);
  auto y = at::relu(x * 2.0 + 1.0);
  auto want = at::softmax(y - x, -1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(at::allclose(got[0], want, 1e-5, 1e-6));
}

TEST(EnginePickle, MutatedPlansAreRefused) {
  Compiled c = compile_small();
  const at::Tensor plan = plan_of(c.state);
  const int64_t n = plan.numel();
  ASSERT_GT(n, 64);
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("mutation seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  int refused = 0;
  // Bit flips: the checksum covers the whole blob, so every flip anywhere must be caught.
  for (int i = 0; i < 400; ++i) {
    at::Tensor p = plan.clone();
    auto* b = p.data_ptr<uint8_t>();
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f)
      b[rng() % static_cast<uint64_t>(n)] ^= static_cast<uint8_t>(1u << (rng() % 8));
    if (at::equal(p, plan)) continue;  // flips that cancelled out
    expect_refused(with_plan(c.state, p));
    ++refused;
  }
  // Truncations (including empty) and appended bytes.
  for (int i = 0; i < 100; ++i) {
    int64_t len = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
    expect_refused(with_plan(c.state, plan.slice(0, 0, len).clone()));
    ++refused;
  }
  at::Tensor longer = at::cat({plan, at::randint(0, 256, {17}, at::kByte)});
  expect_refused(with_plan(c.state, longer));
  // Random bytes, with and without a valid-looking header.
  for (int i = 0; i < 50; ++i) {
    at::Tensor junk = at::randint(0, 256, {static_cast<int64_t>(1 + rng() % 4096)}, at::kByte);
    if (i % 2 == 0 && junk.numel() >= 16) junk.slice(0, 0, 16).copy_(plan.slice(0, 0, 16));
    expect_refused(with_plan(c.state, junk));
    ++refused;
  }
  EXPECT_GT(refused, 500);
}

TEST(EnginePickle, MalformedStatesAreRefused) {
  Compiled c = compile_small();
  auto s = c.state;
  EXPECT_NE(expect_refused({TorchEngine::kStateVersion + 1, std::get<1>(s), std::get<2>(s),
                            std::get<3>(s), std::get<4>(s)})
                .find("state version"),
            std::string::npos);
  EXPECT_NE(expect_refused(
                {std::get<0>(s), std::get<1>(s), {"not_the_input"}, std::get<3>(s), std::get<4>(s)})
                .find("names do not match"),
            std::string::npos);
  EXPECT_NE(expect_refused({std::get<0>(s), std::get<1>(s), std::get<2>(s), {}, std::get<4>(s)})
                .find("names do not match"),
            std::string::npos);
  EXPECT_NE(expect_refused(with_plan(s, plan_of(s).to(at::kFloat))).find("1-D uint8"),
            std::string::npos);
  EXPECT_NE(expect_refused(with_plan(s, plan_of(s).reshape({1, -1}))).find("1-D uint8"),
            std::string::npos);
  // A state that pickled fine but holds no plan at all.
  try {
    TorchEngine::from_state(with_plan(s, at::Tensor()));
    ADD_FAILURE() << "an undefined plan tensor was accepted";
  } catch (const c10::Error&) {
  }
  // The intact state still loads after all that (nothing shared was damaged).
  EXPECT_NO_THROW(TorchEngine::from_state(s));
}

}  // namespace
}  // namespace kiln
