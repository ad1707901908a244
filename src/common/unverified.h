// Kernels written without a GPU: in the tree with their GPU tests, but not chosen by default until
// those tests have passed on one (a kernel picked only because it timed fastest, with no run that
// checked its numbers, could give a silent wrong answer). Each gate is a constant named k...Enabled
// next to the code it guards, set from kUnverifiedKernelsOn and tagged KILN_UNVERIFIED with the
// test that must pass. To run those tests with every gated kernel on, build with
// kUnverifiedKernelsOn = true (a local edit: only the files that include this header recompile);
// once a kernel's tests pass on a GPU, set its own gate to true.
#pragma once

namespace kiln {

inline constexpr bool kUnverifiedKernelsOn = false;

}  // namespace kiln
