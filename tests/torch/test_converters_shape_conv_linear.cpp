// Converters of the shape-op, convolution and linear families against libtorch eager on random
// inputs, static and dynamic shapes.
#include <ATen/ATen.h>

#include "vision_checks.h"

namespace kiln {
namespace {

using namespace vision_checks;  // NOLINT(google-build-using-namespace): the shared checks (and the
                                // torch_test_util helpers it brings in)

// ==== shape ops
// ========================================================================================

TEST(ShapeConverters, ViewsAndPermutations) {
  auto x = at::randn({2, 3, 4, 5});
  check(R"(
def forward(self, x):
    a = x.view(6, 20)
    b = x.reshape([2, -1, 5])
    c = torch.flatten(x, 1)
    d = torch.flatten(x, 1, 2)
    e = x.unflatten(1, [3, 1])
    return a, b, c, d, e, x.view_as(torch.zeros(2, 60)), x.reshape_as(torch.zeros(120))
)",
        {x});
  check(R"(
def forward(self, x):
    a = x.permute(0, 2, 3, 1)
    b = x.transpose(1, 3)
    c = torch.movedim(x, 1, -1)
    d = torch.movedim(x, [0, 1], [3, 2])
    e = torch.moveaxis(x, 3, 0)
    return a, b, c, d, e, x.unsqueeze(2), x.unsqueeze(-1).squeeze(-1), x[:, :1].squeeze(1), x.t() if x.dim() == 2 else x
)",
        {x});
  check(R"(
def forward(self, x):
    return x.expand(3, 2, 3, 4, 5), x[:, :1].expand(-1, 3, -1, -1), x.repeat(1, 2, 1, 2), torch.tile(x, [2, 1]), x.expand_as(torch.zeros(2, 2, 3, 4, 5))
)",
        {x});
}

TEST(ShapeConverters, CatSplitSlice) {
  auto x = at::randn({2, 6, 4});
  check(R"(
def forward(self, x, y):
    a = torch.cat([x, y], 1)
    b = torch.stack([x, x], 0)
    c = torch.cat([x, y.to(3)], 1)
    p, q = torch.split(x, [2, 4], 1)
    r = torch.chunk(x, 3, 1)
    s = torch.unbind(x, 0)
    t = torch.split(x, 4, 1)
    # (list items returned straight from a split would make the list itself a PyTorch value)
    return a, b, c, p + 0.5, q + 0.5, r[0] + 0.5, r[2] + 0.5, s[1] + 0.5, t[1] + 0.5
)",
        {x, at::randn({2, 3, 4})});
  check(R"(
def forward(self, x):
    return x[:, 1:5:2], x[..., -2:], x[:, 3], x.select(2, -1), x.narrow(1, 2, 3), x[:, ::3]
)",
        {x});
}

TEST(ShapeConverters, ShuffleOps) {
  auto x = at::randn({2, 12, 3, 4});
  check(R"(
def forward(self, x):
    return torch.channel_shuffle(x, 3), torch.native_channel_shuffle(x, 4), torch.pixel_shuffle(x, 2), torch.pixel_unshuffle(x[:, :, :2, :], 2)
)",
        {x});
  check_dynamic(R"(
def forward(self, x):
    return torch.channel_shuffle(x, 2), torch.pixel_shuffle(x, 2)
)",
                {dyn({1, 8, 2, 2}, {2, 8, 2, 2}, {4, 8, 2, 2})},
                {{at::randn({1, 8, 2, 2})}, {at::randn({3, 8, 2, 2})}});
}

TEST(ShapeConverters, DynamicReshapes) {
  check_dynamic(R"(
def forward(self, x):
    b = x.size(0)
    y = x.reshape([b, -1])
    z = x.view(b, 3, 2, 4).flatten(2)
    w = torch.flatten(x, 0, 1)
    u = x.unflatten(2, [2, 2])
    return y, z, w, u, x.transpose(0, 2).contiguous().view(-1)
)",
                {dyn({1, 6, 4}, {2, 6, 4}, {5, 6, 4})},
                {{at::randn({1, 6, 4})}, {at::randn({4, 6, 4})}, {at::randn({5, 6, 4})}});
  check_dynamic(R"(
def forward(self, x):
    return x[:1].expand(2, -1, -1), x[:, 1:], torch.cat([x, x], 0)
)",
                {dyn({1, 3, 2}, {2, 3, 2}, {4, 3, 2})},
                {{at::randn({1, 3, 2})}, {at::randn({4, 3, 2})}});
}

// ==== convolution / linear
// =============================================================================

TEST(ConvolutionConverters, ConvVariants) {
  auto x = at::randn({2, 4, 9, 8});
  check(R"(
def forward(self, x, w, b, wg):
    a = torch.conv2d(x, w, b, [1, 1], [1, 1])
    c = torch.conv2d(x, w, None, [2, 1], [0, 2], [2, 1])
    d = torch.conv2d(x, wg, b, [1, 1], [1, 1], [1, 1], 2)
    e = torch.conv2d(x, w, b, [1, 1], 'same', [2, 2])
    f = torch.conv2d(x, w, b, [1, 1], 'valid')
    g = torch._convolution(x, w, b, [1, 2], [1, 0], [1, 1], False, [0, 0], 1, False, False, True, True)
    h = torch.convolution(x, w, b, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    return a, c, d, e, f, g, h
)",
        {x, at::randn({6, 4, 3, 3}), at::randn({6}), at::randn({6, 2, 3, 3})}, 1e-4, 1e-4);
  check(R"(
def forward(self, x, w, b):
    return torch.conv1d(x, w, b, [2], [1]), torch.conv1d(x, w, None, [1], 'same', [3])
)",
        {at::randn({2, 4, 12}), at::randn({5, 4, 3}), at::randn({5})}, 1e-4, 1e-4);
  check(R"(
def forward(self, x, w, b):
    return torch.conv3d(x, w, b, [1, 2, 1], [1, 1, 0])
)",
        {at::randn({1, 2, 5, 6, 4}), at::randn({3, 2, 3, 3, 2}), at::randn({3})}, 1e-4, 1e-4);
  check(R"(
def forward(self, x, w, b):
    a = torch.conv_transpose2d(x, w, b, [2, 2], [1, 1], [1, 1])
    c = torch.conv_transpose2d(x, w, None, [1, 2], [0, 1], [0, 1], 1, [2, 1])
    return a, c
)",
        {at::randn({2, 4, 5, 6}), at::randn({4, 3, 3, 3}), at::randn({3})}, 1e-4, 1e-4);
  check(R"(
def forward(self, x, w):
    return torch.conv_transpose1d(x, w, None, [2], [1], [1], 2), torch.conv_transpose3d(x.unsqueeze(-1).unsqueeze(-1), w.unsqueeze(-1).unsqueeze(-1), None, [1, 1, 1], [0, 0, 0], [0, 0, 0], 2)
)",
        {at::randn({1, 4, 7}), at::randn({4, 2, 3})}, 1e-4, 1e-4);
  // unbatched
  check(R"(
def forward(self, x, w):
    return torch.conv2d(x, w)
)",
        {at::randn({4, 6, 6}), at::randn({3, 4, 2, 2})}, 1e-4, 1e-4);
  check_dynamic(
      R"(
def forward(self, x, w):
    return torch.conv2d(x, w, None, [2, 2], [1, 1])
)",
      {dyn({1, 3, 8, 8}, {2, 3, 16, 16}, {4, 3, 24, 24}), torchscript::Input({4, 3, 3, 3})},
      {{at::randn({1, 3, 8, 8}), at::randn({4, 3, 3, 3})},
       {at::randn({3, 3, 19, 10}), at::randn({4, 3, 3, 3})}},
      1e-4, 1e-4);
}

TEST(LinearConverters, LinearMatmul) {
  check(R"(
def forward(self, x, w, b, y):
    return torch.linear(x, w, b), torch.linear(x, w), torch.matmul(x, y), torch.mm(x[0], y), torch.bmm(x, y.expand(2, 5, 3)), torch.addmm(b[:3], x[1], y, beta=0.5, alpha=2.0), w.t()
)",
        {at::randn({2, 4, 5}), at::randn({6, 5}), at::randn({6}), at::randn({5, 3})}, 1e-4, 1e-4);
  check_dynamic(R"(
def forward(self, x, w, b):
    return torch.linear(x, w, b), torch.matmul(x, w.t())
)",
                {dyn({1, 5}, {4, 5}, {8, 5}), torchscript::Input({3, 5}), torchscript::Input({3})},
                {{at::randn({1, 5}), at::randn({3, 5}), at::randn({3})},
                 {at::randn({7, 5}), at::randn({3, 5}), at::randn({3})}},
                1e-4, 1e-4);
}

TEST(LinearConverters, Einsum) {
  // maxvit's attention, plus transposes, reductions, outer products, ellipses and implicit outputs.
  check(R"(
def forward(self, q, k, v):
    s = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)
    o = torch.einsum("B G H I J, B G H J D -> B G H I D", s, v)
    return s, o
)",
        {at::randn({2, 3, 2, 5, 4}), at::randn({2, 3, 2, 6, 4}), at::randn({2, 3, 2, 6, 7})}, 1e-4,
        1e-4);
  check(R"(
def forward(self, a, b, c):
    r1 = torch.einsum("ij->ji", a)
    r2 = torch.einsum("ij->", a)
    r3 = torch.einsum("ij,jk->ik", a, b)
    r4 = torch.einsum("i,j->ij", a[0], b[0])
    r5 = torch.einsum("ij,ij->i", a, a)
    r6 = torch.einsum("bij,bjk", c, c.transpose(1, 2))
    r7 = torch.einsum("...ij,...jk->...ik", c, c.transpose(1, 2))
    r8 = torch.einsum("abc,cd->dba", c, b[:3])
    r9 = torch.einsum("ij,kl->ijkl", a[:2], b[:2, :2])
    r10 = torch.einsum("ij,jk", a, b)
    return r1, r2, r3, r4, r5, r6, r7, r8, r9, r10
)",
        {at::randn({3, 4}), at::randn({4, 5}), at::randn({2, 4, 3})}, 1e-4, 1e-4);
  check_dynamic(R"(
def forward(self, q, k):
    return torch.einsum("bhid,bhjd->bhij", q, k), torch.einsum("bij->bji", q[:, 0])
)",
                {dyn({1, 2, 5, 4}, {2, 2, 5, 4}, {4, 2, 5, 4}),
                 dyn({1, 2, 3, 4}, {2, 2, 3, 4}, {4, 2, 3, 4})},
                {{at::randn({1, 2, 5, 4}), at::randn({1, 2, 3, 4})},
                 {at::randn({4, 2, 5, 4}), at::randn({4, 2, 3, 4})}},
                1e-4, 1e-4);
}

}  // namespace
}  // namespace kiln
