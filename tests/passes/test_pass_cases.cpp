// Pass tests as text: each tests/passes/cases/*.kir holds an input graph (text IR, usually dumped
// from a real frontend with `kilnc --dump-ir`), the passes to run, and the graph they must produce.
// The test checks the printed result against the expected text, then runs the graph before and
// after the passes on the CPU reference backend (with no passes at all) and compares the outputs: a
// pass must not change what the network computes. See tests/passes/cases/README.md for the format.
//
// KILN_UPDATE_PASS_CASES=1 rewrites each file's expected part from what the passes produce (review
// the diff before committing: the expected text is a hand-checked statement of what the pass does).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/text_printer.h"
#include "passes/pass.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kExpectMarker = "# expect:";
// Small weights stay inline in the expected text; larger ones print as "<N bytes>".
constexpr int64_t kInlineLimit = 16;

fs::path cases_dir() { return fs::path(KILN_SOURCE_DIR) / "tests" / "passes" / "cases"; }

struct PassCase {
  std::string header;  // comment lines before the input graph (kept when updating)
  std::vector<std::string> passes;
  std::string backend = "cpu";
  std::vector<Precision> precisions{Precision::kFP32};
  bool numerics = true;
  double tolerance = 0;  // 0: the output dtype's default
  std::string input, expected;
};

std::vector<std::string> words(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> out;
  for (std::string w; is >> w;) out.push_back(w);
  return out;
}

// "# key: value" -> value when the line has that key.
std::optional<std::string> header_value(const std::string& line, std::string_view key) {
  std::string prefix = "# " + std::string(key) + ":";
  if (line.rfind(prefix, 0) != 0) return std::nullopt;
  return line.substr(prefix.size());
}

Expected<PassCase> read_case(const fs::path& path) {
  std::ifstream f(path);
  if (!f) return make_error(StatusCode::kNotFound, "test", "cannot read " + path.string());
  PassCase c;
  bool in_expect = false;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind(kExpectMarker, 0) == 0) {
      in_expect = true;
      continue;
    }
    if (in_expect) {
      if (line.rfind('#', 0) != 0) c.expected += line + "\n";
      continue;
    }
    if (line.rfind('#', 0) != 0) {
      c.input += line + "\n";
      continue;
    }
    c.header += line + "\n";
    if (auto v = header_value(line, "passes")) c.passes = words(*v);
    if (auto v = header_value(line, "backend")) c.backend = words(*v).at(0);
    if (auto v = header_value(line, "numerics"))
      c.numerics = words(*v) != std::vector<std::string>{"off"};
    if (auto v = header_value(line, "tolerance")) c.tolerance = std::stod(words(*v).at(0));
    if (auto v = header_value(line, "precisions")) {
      for (const auto& p : words(*v)) {
        if (p == "fp16")
          c.precisions.push_back(Precision::kFP16);
        else if (p == "bf16")
          c.precisions.push_back(Precision::kBF16);
        else if (p == "tf32")
          c.precisions.push_back(Precision::kTF32);
        else
          return make_error(StatusCode::kInvalidArgument, "test", "unknown precision " + p);
      }
    }
  }
  if (c.passes.empty())
    return make_error(StatusCode::kInvalidArgument, "test",
                      path.string() + ": no '# passes:' line");
  return c;
}

// The named passes, in the given order, from the pipeline's table.
Expected<std::vector<passes::PassEntry>> lookup(const std::vector<std::string>& names) {
  std::vector<passes::PassEntry> out;
  auto all = passes::pipeline_passes();
  for (const auto& n : names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& p) { return p.name == n; });
    if (it == all.end())
      return make_error(StatusCode::kInvalidArgument, "test", "unknown pass " + n);
    out.push_back(*it);
  }
  return out;
}

std::string print(const ir::Graph& g, int64_t limit) {
  ir::PrintOptions o;
  o.inline_constant_limit = limit;
  return ir::print_graph(g, o);
}

Expected<ir::Graph> parse(const std::string& text) {
  ir::ParseOptions o;
  o.fill_elided_constants = true;  // "<N bytes>" weights get deterministic pseudo-random values
  return ir::parse_graph(text, o);
}

// Builds `g` exactly as it is (every pass disabled) on the CPU reference backend and runs it.
std::vector<HostTensor> run_as_is(const ir::Graph& g, const std::vector<HostTensor>& inputs) {
  auto net = parse_network(print(g, std::numeric_limits<int64_t>::max()));
  EXPECT_TRUE(net.ok()) << net.status().to_string();
  if (!net.ok()) return {};
  BuilderConfig cfg;
  cfg.backend = "cpu";
  for (const auto& p : passes::pipeline_passes())
    if (std::find(cfg.switches.disabled_passes.begin(), cfg.switches.disabled_passes.end(),
                  p.name) == cfg.switches.disabled_passes.end())
      cfg.switches.disabled_passes.emplace_back(p.name);
  return testing::build_and_run(*net, inputs, cfg);
}

std::vector<fs::path> case_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(cases_dir()))
    if (e.path().extension() == ".kir") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

class PassCases : public ::testing::TestWithParam<fs::path> {};

TEST_P(PassCases, ProduceTheExpectedGraphAndTheSameOutputs) {
  const fs::path& path = GetParam();
  auto c = read_case(path);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto before = parse(c->input);
  ASSERT_TRUE(before.ok()) << path.filename() << ": input: " << before.status().to_string();
  auto entries = lookup(c->passes);
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();

  BuilderConfig cfg;
  cfg.backend = c->backend;
  cfg.enabled_precisions = c->precisions;
  passes::PassContext ctx{cfg, default_logger(), c->backend};
  ctx.verify_each_pass = true;
  ir::Graph after = *before;
  Status s = passes::run_passes(after, ctx, *entries);
  ASSERT_TRUE(s.ok()) << s.to_string();
  std::string got = print(after, kInlineLimit);

  if (const char* u = std::getenv("KILN_UPDATE_PASS_CASES"); u && std::string(u) == "1") {
    std::ofstream f(path);
    f << c->header << print(*before, kInlineLimit) << kExpectMarker << "\n" << got;
    GTEST_SKIP() << "updated " << path;
  }
  auto expected = parse(c->expected);
  ASSERT_TRUE(expected.ok()) << path.filename() << ": expected: " << expected.status().to_string();
  EXPECT_EQ(got, print(*expected, kInlineLimit)) << path.filename() << " after " << c->header;

  if (!c->numerics) return;
  std::vector<HostTensor> inputs;
  for (int32_t t : before->inputs) {
    const auto& type = before->tensors[static_cast<size_t>(t)].type;
    inputs.push_back(testing::random_tensor(type.dtype, type.dims));
  }
  auto want = run_as_is(*before, inputs);
  auto have = run_as_is(after, inputs);
  ASSERT_EQ(have.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(have[i].type.dims, want[i].type.dims) << "output " << i;
    double tol = c->tolerance > 0 ? c->tolerance : testing::default_tolerance(have[i].type.dtype);
    EXPECT_TRUE(testing::all_close(have[i], testing::to_doubles(want[i]), tol, tol))
        << path.filename() << " output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Text, PassCases, ::testing::ValuesIn(case_files()),
                         [](const ::testing::TestParamInfo<fs::path>& info) {
                           std::string n = info.param.stem().string();
                           std::replace_if(
                               n.begin(), n.end(), [](char ch) { return !std::isalnum(ch); }, '_');
                           return n;
                         });

}  // namespace
}  // namespace kiln
