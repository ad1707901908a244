// Converters of the resize/pad and pooling families against libtorch eager on random inputs, static
// and dynamic shapes.
#include <ATen/ATen.h>

#include "vision_checks.h"

namespace kiln {
namespace {

using namespace vision_checks;  // NOLINT(google-build-using-namespace): the shared checks (and the
                                // torch_test_util helpers it brings in)

// ==== resize / pad
// ======================================================================================

TEST(ResizePadConverters, Pads) {
  auto x = at::randn({2, 3, 5, 6});
  check(R"(
def forward(self, x):
    return torch.constant_pad_nd(x, [1, 2, 0, 3], 1.5), torch.constant_pad_nd(x, [-1, 2, 1, -2]), torch.constant_pad_nd(x, [1, 1, 1, 1, 1, 1])
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.reflection_pad2d(x, [1, 2, 3, 1]), torch.replication_pad2d(x, [2, 0, 1, 3]), torch._pad_circular(x, [1, 2, 2, 1])
)",
        {x});
  check(R"(
def forward(self, x):
    a = torch.pad(x, [1, 2, 2, 1], 'reflect')
    b = torch.pad(x, [1, 2, 3, 0], 'replicate')
    c = torch.pad(x, [2, 1, 1, 2], 'circular')
    d = torch.pad(x, [1, 1, 2, 2], 'constant', -2.0)
    e = torch.pad(x, [1, 1])
    return a, b, c, d, e
)",
        {x});
  auto x3 = at::randn({2, 3, 7});
  check(R"(
def forward(self, x):
    return torch.reflection_pad1d(x, [3, 2]), torch.replication_pad1d(x, [1, 4]), torch.pad(x, [2, 1], 'reflect'), torch.pad(x, [1, 2], 'circular')
)",
        {x3});
  auto x5 = at::randn({1, 2, 3, 4, 5});
  check(R"(
def forward(self, x):
    return torch.reflection_pad3d(x, [1, 2, 1, 1, 2, 0]), torch.replication_pad3d(x, [0, 1, 2, 1, 1, 2])
)",
        {x5});
  check(R"(
def forward(self, x):
    return torch.constant_pad_nd(x, [1, 2], 3)
)",
        {at::randint(0, 9, {3, 4}, at::kLong)});
  check_dynamic(R"(
def forward(self, x):
    return torch.constant_pad_nd(x, [1, 1, 2, 2]), torch.reflection_pad2d(x, [1, 1, 1, 1])
)",
                {dyn({1, 2, 4, 4}, {2, 2, 6, 6}, {3, 2, 8, 8})},
                {{at::randn({1, 2, 4, 4})}, {at::randn({3, 2, 8, 5})}, {at::randn({2, 2, 6, 7})}});
}

TEST(ResizePadConverters, RuntimePadAmounts) {
  // Swin pads H/W up to a multiple of the window from the (dynamic) input size; negative amounts
  // crop.
  check_dynamic(R"(
def forward(self, x):
    pad_b = (4 - x.size(2) % 4) % 4
    pad_r = (4 - x.size(3) % 4) % 4
    a = torch.pad(x, [0, pad_r, 0, pad_b])
    b = torch.constant_pad_nd(x, [1, 1 - x.size(3) // 2, pad_b - 1, 2], -1.5)
    return a, b
)",
                {dyn({1, 2, 3, 4}, {2, 2, 5, 6}, {2, 2, 9, 9})},
                {{at::randn({1, 2, 3, 4})},
                 {at::randn({2, 2, 5, 6})},
                 {at::randn({2, 2, 9, 7})},
                 {at::randn({1, 2, 8, 8})}});
}

TEST(ResizePadConverters, NearestUpsampling) {
  auto x = at::randn({2, 3, 5, 7});
  check(R"(
def forward(self, x):
    return torch.upsample_nearest2d(x, [10, 14]), torch.upsample_nearest2d(x, [8, 9]), torch.upsample_nearest2d(x, [3, 4])
)",
        {x});
  check(R"(
def forward(self, x):
    a = torch.upsample_nearest2d(x, None, [2.0, 2.0])
    b = torch.upsample_nearest2d(x, None, [1.7, 0.6])
    c = torch.upsample_nearest2d(x, [9, 4], 1.7, 0.6)
    d = torch._upsample_nearest_exact2d(x, [9, 11])
    e = torch._upsample_nearest_exact2d(x, None, [1.5, 2.5])
    return a, b, c, d, e
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.upsample_nearest1d(x, [11]), torch.upsample_nearest1d(x, None, [2.5]), torch._upsample_nearest_exact1d(x, [3])
)",
        {at::randn({2, 3, 5})});
  check(R"(
def forward(self, x):
    return torch.upsample_nearest3d(x, [4, 6, 9]), torch.upsample_nearest3d(x, None, [2.0, 1.5, 0.5])
)",
        {at::randn({1, 2, 3, 4, 5})});
  check(R"(
def forward(self, x):
    return torch.upsample_nearest2d(x, [6, 6])
)",
        {at::randint(0, 100, {1, 2, 3, 3}, at::kByte)});
}

TEST(ResizePadConverters, LinearAndCubicUpsampling) {
  auto x = at::randn({2, 3, 5, 7});
  for (const char* ac : {"False", "True"}) {
    SCOPED_TRACE(std::string("align_corners=") + ac);
    std::string a = ac;
    check(R"(
def forward(self, x):
    r1 = torch.upsample_bilinear2d(x, [10, 9], )" +
              a + R"()
    r2 = torch.upsample_bilinear2d(x, None, )" +
              a + R"(, [2.0, 1.5])
    r3 = torch.upsample_bilinear2d(x, [3, 4], )" +
              a + R"()
    r4 = torch.upsample_bicubic2d(x, [9, 12], )" +
              a + R"()
    r5 = torch.upsample_bicubic2d(x, None, )" +
              a + R"(, [0.75, 1.3])
    return r1, r2, r3, r4, r5
)",
          {x});
    check(R"(
def forward(self, x):
    return torch.upsample_linear1d(x, [13], )" +
              a + R"(), torch.upsample_linear1d(x, None, )" + a + R"(, [0.5])
)",
          {at::randn({2, 3, 6})});
    check(R"(
def forward(self, x):
    return torch.upsample_trilinear3d(x, [5, 6, 3], )" +
              a + R"(), torch.upsample_trilinear3d(x, None, )" + a + R"(, [2.0, 1.5, 1.0])
)",
          {at::randn({1, 2, 3, 4, 5})});
  }
  // explicit sizes with explicit scales: the scales map coordinates
  check(R"(
def forward(self, x):
    return torch.upsample_bilinear2d(x, [10, 14], False, 2.5, 2.5)
)",
        {x});
}

TEST(ResizePadConverters, DynamicSizes) {
  // Output size from another tensor's (dynamic) shape, as FCN/DeepLab heads do.
  check_dynamic(
      R"(
def forward(self, x, y):
    a = torch.upsample_bilinear2d(x, [y.size(2), y.size(3)], False)
    b = torch.upsample_nearest2d(x, [y.size(2), y.size(3)])
    return a, b
)",
      {torchscript::Input({1, 3, 4, 4}), dyn({1, 1, 8, 8}, {1, 1, 16, 16}, {1, 1, 32, 32})},
      {{at::randn({1, 3, 4, 4}), at::randn({1, 1, 8, 8})},
       {at::randn({1, 3, 4, 4}), at::randn({1, 1, 20, 31})}});
  check_dynamic(R"(
def forward(self, x):
    return torch.upsample_bilinear2d(x, None, False, [2.0, 2.0]), torch.upsample_nearest2d(x, None, [3.0, 0.5])
)",
                {dyn({1, 2, 4, 4}, {2, 2, 8, 8}, {2, 2, 16, 16})},
                {{at::randn({1, 2, 4, 4})}, {at::randn({2, 2, 9, 13})}});
}

// ==== pooling
// ==========================================================================================

TEST(PoolingConverters, MaxAndAvg) {
  auto x = at::randn({2, 3, 9, 10});
  check(R"(
def forward(self, x):
    a = torch.max_pool2d(x, [3, 3], [2, 2], [1, 1])
    b = torch.max_pool2d(x, [3, 2], [2, 2], [0, 1], [1, 1], True)
    c = torch.max_pool2d(x, [2, 2], [1, 1], [0, 0], [2, 2])
    d = torch.avg_pool2d(x, [3, 3], [2, 2], [1, 1])
    e = torch.avg_pool2d(x, [3, 3], [2, 2], [1, 1], True, False)
    f = torch.avg_pool2d(x, [2, 3], [2, 2], [1, 1], False, True, 5)
    return a, b, c, d, e, f
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.max_pool1d(x, [3], [2], [1], [1], True), torch.avg_pool1d(x, [4], [3], [2], True, False)
)",
        {at::randn({2, 3, 11})});
  check(R"(
def forward(self, x):
    return torch.max_pool3d(x, [2, 2, 2], [2, 1, 2], [1, 0, 1]), torch.avg_pool3d(x, [3, 2, 2], [1, 2, 2], [1, 1, 0], True, False)
)",
        {at::randn({1, 2, 5, 6, 7})});
  // unbatched input
  check(R"(
def forward(self, x):
    return torch.max_pool2d(x, [2, 2]), torch.adaptive_avg_pool2d(x, [3, 2])
)",
        {at::randn({3, 8, 7})});
  check_dynamic(R"(
def forward(self, x):
    return torch.max_pool2d(x, [3, 3], [2, 2], [1, 1]), torch.avg_pool2d(x, [2, 2])
)",
                {dyn({1, 3, 8, 8}, {2, 3, 16, 16}, {4, 3, 32, 32})},
                {{at::randn({1, 3, 8, 8})}, {at::randn({3, 3, 17, 31})}});
}

TEST(PoolingConverters, Adaptive) {
  auto x = at::randn({2, 3, 10, 7});
  check(R"(
def forward(self, x):
    a = torch.adaptive_avg_pool2d(x, [1, 1])
    b = torch.adaptive_avg_pool2d(x, [3, 4])
    c = torch.adaptive_avg_pool2d(x, [10, 7])
    d = torch.adaptive_avg_pool2d(x, [13, 9])
    e = torch.adaptive_max_pool2d(x, [3, 5])[0]
    return a, b, c, d, e
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.adaptive_avg_pool1d(x, [4]), torch.adaptive_max_pool1d(x, [3])[0]
)",
        {at::randn({2, 3, 11})});
  check(R"(
def forward(self, x):
    return torch.adaptive_avg_pool3d(x, [2, 3, 1]), torch.adaptive_max_pool3d(x, [1, 2, 3])[0]
)",
        {at::randn({1, 2, 5, 6, 7})});
  check_dynamic(R"(
def forward(self, x):
    return torch.adaptive_avg_pool2d(x, [1, 1]).flatten(1), torch.adaptive_avg_pool2d(x, [2, 3])
)",
                {dyn({1, 3, 6, 6}, {2, 3, 8, 8}, {4, 3, 12, 12})},
                {{at::randn({1, 3, 6, 6})}, {at::randn({4, 3, 11, 7})}});
}

TEST(PoolingConverters, UsedIndicesAreComputed) {
  check(R"(
def forward(self, x):
    y = torch.relu(x)
    v, i = torch.max_pool2d_with_indices(y, [2, 2])
    w, j = torch.max_pool2d_with_indices(x, [3, 3], [2, 2], [1, 1], [1, 1], True)
    return v * 2.0, i, w, j * 2
)",
        {at::randn({1, 2, 4, 4})});
}

}  // namespace
}  // namespace kiln
