// Converter error messages: a converter that cannot handle a node says which argument and why (by
// index and schema name), not a catch-all like "bad group_norm parameters", and names the node.
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "converters/converter.h"

namespace kiln {
namespace {

/// A runtime tensor input of the given dims (float32 unless dtype says otherwise).
struct Runtime {
  std::vector<int64_t> dims;
  DataType dtype = DataType::kFloat32;
};
using Input = std::variant<c10::IValue, Runtime>;

/// Converts one node `op` whose inputs are constants or runtime tensors; returns the converter's
/// status with the node added as the partitioner adds it.
Status convert_one(const std::string& op, const std::vector<Input>& inputs) {
  bridge::OpGraph g;
  bridge::Node node;
  node.op = op;
  node.source = "%y = " + op + "(...)";
  std::vector<std::pair<int, Runtime>> runtime;
  for (const Input& in : inputs) {
    bridge::Value v;
    v.name = "v" + std::to_string(g.values.size());
    if (const auto* c = std::get_if<c10::IValue>(&in)) {
      v.constant = *c;
      v.kind = c->isNone() ? bridge::ValueKind::kNone : bridge::ValueKind::kOther;
    } else {
      v.kind = bridge::ValueKind::kTensor;
    }
    int id = g.add_value(std::move(v));
    node.inputs.push_back(id);
    if (const auto* r = std::get_if<Runtime>(&in)) runtime.emplace_back(id, *r);
  }
  bridge::Value out;
  out.name = "y";
  out.kind = bridge::ValueKind::kTensor;
  out.producer = 0;
  node.outputs.push_back(g.add_value(std::move(out)));
  g.nodes.push_back(node);

  Network net;
  bridge::ConversionCtx ctx(net, g);
  for (const auto& [id, r] : runtime) {
    Dims d;
    for (int64_t s : r.dims) (void)d.push_back(s);
    KILN_ASSIGN_OR_RETURN(auto t, net.add_input("in" + std::to_string(id), r.dtype, d));
    ctx.set_value(id, bridge::Arg::tensor(t));
  }
  const bridge::ConverterInfo* info = bridge::converter_registry().find(op);
  if (info == nullptr) return make_error(StatusCode::kNotFound, "test", "no converter for " + op);
  return ctx.error(node, info->convert(ctx, node));
}

c10::IValue none() { return c10::IValue(); }
c10::IValue ints(std::vector<int64_t> v) { return c10::IValue(v); }
Runtime scalar_int() { return Runtime{{}, DataType::kInt64}; }

::testing::AssertionResult says(const Status& s, const std::string& what) {
  if (s.ok()) return ::testing::AssertionFailure() << "converted; expected an error: " << what;
  if (s.message().find(what) == std::string::npos)
    return ::testing::AssertionFailure() << "message lacks '" << what << "': " << s.message();
  return ::testing::AssertionSuccess();
}

TEST(ConverterErrors, GroupNormNamesTheArgument) {
  // group_norm(x, num_groups, weight?, bias?, eps, cudnn_enabled) with num_groups computed at
  // run time: was "bad group_norm parameters".
  Status s = convert_one("aten::group_norm", {Runtime{{2, 4, 3, 3}}, scalar_int(), none(), none(),
                                              c10::IValue(1e-5), c10::IValue(false)});
  EXPECT_TRUE(says(s, "aten::group_norm (%y = aten::group_norm(...)): "));
  EXPECT_TRUE(says(s, "input 1 (num_groups) must be a constant int"));
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  // A non-constant eps is named too.
  s = convert_one("aten::group_norm", {Runtime{{2, 4, 3, 3}}, c10::IValue(int64_t{2}), none(),
                                       none(), Runtime{{}}, c10::IValue(false)});
  EXPECT_TRUE(says(s, "input 4 (eps) must be a constant number"));
}

TEST(ConverterErrors, BatchNormNamesTheBadStatistic) {
  // batch_norm(x, weight?, bias?, running_mean, running_var, training, momentum, eps, cudnn) with
  // running_var not a tensor: was "bad batch_norm parameters".
  std::vector<Input> in = {Runtime{{2, 3, 4}}, Runtime{{3}},      Runtime{{3}},
                           Runtime{{3}},       Runtime{{3}},      c10::IValue(false),
                           c10::IValue(0.1),   c10::IValue(1e-5), c10::IValue(true)};
  Status ok = convert_one("aten::batch_norm", in);
  ASSERT_TRUE(ok.ok()) << ok.message();
  in[4] = c10::IValue(std::string("not a tensor"));
  Status s = convert_one("aten::batch_norm", in);
  EXPECT_TRUE(says(s, "input 4 (running_var) is a String, which cannot be used as a tensor"));
  EXPECT_EQ(s.message().find("bad batch_norm parameters"), std::string::npos) << s.message();
}

TEST(ConverterErrors, MultiHeadAttentionSaysWhatIsWrongWithTheHeads) {
  // _native_multi_head_attention(q, k, v, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight,
  // proj_bias, mask?, need_weights, average_attn_weights, mask_type?): was "embed_dim / num_head
  // must be constants" for all three causes.
  auto mha = [](Input embed_dim, Input num_head) {
    Runtime x{{2, 5, 6}};
    return convert_one(
        "aten::_native_multi_head_attention",
        {x, x, x, embed_dim, num_head, Runtime{{18, 6}}, Runtime{{18}}, Runtime{{6, 6}},
         Runtime{{6}}, none(), c10::IValue(false), c10::IValue(true), none()});
  };
  EXPECT_TRUE(says(mha(c10::IValue(int64_t{6}), c10::IValue(int64_t{4})),
                   "embed_dim 6 is not divisible by num_head 4"));
  EXPECT_TRUE(says(mha(c10::IValue(int64_t{6}), c10::IValue(int64_t{0})),
                   "num_head must be positive, got 0"));
  EXPECT_TRUE(says(mha(scalar_int(), c10::IValue(int64_t{2})),
                   "input 3 (embed_dim) must be a constant int"));
}

TEST(ConverterErrors, ReductionsAndShapeOpsNameTheArgument) {
  // Each was one message for all of its arguments ("topk arguments must be constants", ...).
  Runtime x{{4, 6}};
  EXPECT_TRUE(says(convert_one("aten::topk", {x, scalar_int(), c10::IValue(int64_t{-1}),
                                              c10::IValue(true), c10::IValue(true)}),
                   "input 1 (k) must be a constant int"));
  EXPECT_TRUE(says(convert_one("aten::topk", {x, c10::IValue(int64_t{2}), c10::IValue(int64_t{-1}),
                                              Runtime{{}, DataType::kBool}, c10::IValue(true)}),
                   "input 3 (largest) must be a constant bool"));
  EXPECT_TRUE(
      says(convert_one("aten::flatten.using_ints", {x, c10::IValue(int64_t{0}), scalar_int()}),
           "input 2 (end_dim) must be a constant int"));
  EXPECT_TRUE(says(convert_one("aten::transpose.int", {x, scalar_int(), c10::IValue(int64_t{1})}),
                   "input 1 (dim0) must be a constant int"));
  // The tensor's own error is no longer reported as a constness problem.
  EXPECT_TRUE(says(convert_one("aten::unsqueeze", {none(), c10::IValue(int64_t{0})}),
                   "input 0 (self) is None"));
  // chunks = 0 was a division by zero.
  EXPECT_TRUE(
      says(convert_one("aten::chunk", {x, c10::IValue(int64_t{0}), c10::IValue(int64_t{0})}),
           "input 1 (chunks) must be positive, got 0"));
}

TEST(ConverterErrors, ConvolutionAndPoolingNameTheArgument) {
  Runtime x{{1, 2, 8, 8}};
  EXPECT_TRUE(says(convert_one("aten::conv2d", {x, Runtime{{4, 2, 3, 3}}, none(), ints({1, 1}),
                                                ints({0, 0}), ints({1, 1}), scalar_int()}),
                   "input 6 (groups) must be a constant int"));
  EXPECT_TRUE(says(convert_one("aten::max_pool2d", {x, ints({2, 2}), ints({2, 2}), ints({0, 0}),
                                                    ints({1, 1}), Runtime{{}, DataType::kBool}}),
                   "input 5 (ceil_mode) must be a constant bool"));
}

TEST(ConverterErrors, NodeContextIsAddedOnceAndKeepsTheCode) {
  bridge::OpGraph g;
  bridge::Node n;
  n.op = "aten::relu";
  n.source = "%y = aten::relu(%x)";
  Network net;
  bridge::ConversionCtx ctx(net, g);
  // An error from the Network API gains the node; its code stays.
  Status s = ctx.error(n, make_error(StatusCode::kShapeError, "network", "dims differ"));
  EXPECT_EQ(s.code(), StatusCode::kShapeError);
  EXPECT_TRUE(says(s, "aten::relu (%y = aten::relu(%x)): [network] dims differ"));
  // One that names the node already is unchanged.
  EXPECT_EQ(ctx.error(n, s).message(), s.message());
  EXPECT_EQ(ctx.error(n, ctx.error(n, "input 0 (self) is None")).message(),
            ctx.error(n, "input 0 (self) is None").message());
  EXPECT_TRUE(ctx.error(n, Status{}).ok());
  // Ops without a registered schema are named by index only.
  bridge::Node custom;
  custom.op = "mylib::frob";
  EXPECT_EQ(ctx.input_name(custom, 2), "input 2");
  EXPECT_EQ(ctx.input_name(n, 0), "input 0 (self)");
}

}  // namespace
}  // namespace kiln
