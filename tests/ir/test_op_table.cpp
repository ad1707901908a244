// kOpTable's pass-facing flags: each flag holds exactly the ops the passes listed privately before
// they read kOpTable (so moving the lists changed nothing). A new op chooses its flags in its row.
#include <set>

#include "ir/op_table.h"
#include "test_util.h"

namespace kiln::ir {
namespace {

std::set<OpKind> ops_with(OpFlag flag) {
  std::set<OpKind> ops;
  for (const OpInfo& info : kOpTable)
    if ((info.flags & flag) != 0) ops.insert(info.kind);
  return ops;
}

using K = OpKind;

TEST(OpTable, DataMovementIsAssignPrecisionsFormerList) {
  std::set<OpKind> want = {K::kReshape, K::kTranspose,      K::kConcat,  K::kSplit,    K::kSlice,
                           K::kGather,  K::kGatherElements, K::kScatter, K::kPad,      K::kExpand,
                           K::kSqueeze, K::kUnsqueeze,      K::kFlatten, K::kWhere,    K::kIdentity,
                           K::kShape,   K::kCast,           K::kTopK,    K::kConstant, K::kFill,
                           K::kArange,  K::kKvCacheWrite,   K::kNonZero};
  EXPECT_EQ(ops_with(kFlagDataMovement), want);
}

// Only the KV cache write writes into its input (the verifier and storage_roots rely on it).
TEST(OpTable, InPlaceIsKvCacheWriteOnly) {
  EXPECT_EQ(ops_with(kFlagInPlace), (std::set<OpKind>{K::kKvCacheWrite}));
}

TEST(OpTable, ViewChainMovementIsFoldViewChainsFormerList) {
  std::set<OpKind> movement = ops_with(kFlagView);
  movement.merge(ops_with(kFlagStridedCopy));
  std::set<OpKind> want = {K::kReshape,   K::kSqueeze, K::kUnsqueeze, K::kFlatten,
                           K::kTranspose, K::kSplit,   K::kSlice};
  EXPECT_EQ(movement, want);
}

TEST(OpTable, LayoutPassListsAreFlags) {
  EXPECT_EQ(ops_with(kFlagPointwise),
            (std::set<OpKind>{K::kUnary, K::kBinary, K::kCast, K::kWhere}));
  EXPECT_EQ(ops_with(kFlagChannelsLast),
            (std::set<OpKind>{K::kConvolution, K::kPooling, K::kAdaptivePooling}));
  EXPECT_EQ(ops_with(kFlagGemm), (std::set<OpKind>{K::kLinear, K::kMatMul}));
}

TEST(OpTable, IndexOperandsAreAssignPrecisionsFormerInputs) {
  for (const OpInfo& info : kOpTable) {
    for (int i = 0; i < 8; ++i) {
      bool want = (info.kind == K::kWhere && i == 0) ||
                  ((info.kind == K::kGather || info.kind == K::kGatherElements ||
                    info.kind == K::kScatter || info.kind == K::kKvCacheWrite) &&
                   i == 1);
      EXPECT_EQ(is_index_operand(info.kind, i), want) << info.name << " input " << i;
    }
  }
}

}  // namespace
}  // namespace kiln::ir
