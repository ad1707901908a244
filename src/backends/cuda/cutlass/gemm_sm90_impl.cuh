// The CUTLASS 3.x kernel template behind gemm_sm90.h (included by one .cu file per dtype).
#pragma once

#include "backends/cuda/cutlass/gemm_sm90.h"
#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/epilogue/thread/activation.h"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"

namespace kiln::cuda::cutlass_gemm::detail {

inline Status unsupported(const std::string& why) {
  return make_error(StatusCode::kUnsupported, "backends.cuda.cutlass", why);
}

template <class T, class Tile, class Cluster, class MainSchedule, class EpiSchedule>
Status run_gelu_linear(const Problem& p, void* workspace, size_t workspace_bytes,
                       cudaStream_t stream) {
  using namespace cute;
  using LayoutA = cutlass::layout::RowMajor;
  using LayoutB = cutlass::layout::ColumnMajor;  // W [n, k] row-major is B [k, n] column-major
  using LayoutC = cutlass::layout::RowMajor;
  constexpr int kAlign = 8;  // 16 bytes of 16-bit elements
  using Fusion = cutlass::epilogue::fusion::LinCombPerColBiasEltAct<cutlass::epilogue::thread::GELU,
                                                                    T, float, T, T, float>;
  using Epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, T, LayoutC, kAlign, T, LayoutC,
      kAlign, EpiSchedule, Fusion>::CollectiveOp;
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, T, LayoutA, kAlign, T, LayoutB, kAlign,
      float, Tile, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename Epilogue::SharedStorage))>,
      MainSchedule>::CollectiveOp;
  using Kernel =
      cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Mainloop, Epilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  auto sa = cutlass::make_cute_packed_stride(typename Kernel::StrideA{}, make_shape(p.m, p.k, 1));
  auto sb = cutlass::make_cute_packed_stride(typename Kernel::StrideB{}, make_shape(p.n, p.k, 1));
  auto sc = cutlass::make_cute_packed_stride(typename Kernel::StrideC{}, make_shape(p.m, p.n, 1));
  auto sd = cutlass::make_cute_packed_stride(typename Kernel::StrideD{}, make_shape(p.m, p.n, 1));
  typename Gemm::Arguments args{
      cutlass::gemm::GemmUniversalMode::kGemm,
      {p.m, p.n, p.k, 1},
      {static_cast<const T*>(p.a), sa, static_cast<const T*>(p.b), sb},
      {{}, static_cast<const T*>(p.c != nullptr ? p.c : p.d), sc, static_cast<T*>(p.d), sd}};
  args.epilogue.thread.alpha = 1.0f;
  args.epilogue.thread.beta = p.c != nullptr ? 1.0f : 0.0f;
  args.epilogue.thread.bias_ptr = static_cast<const T*>(p.bias);
  Gemm gemm;
  if (gemm.can_implement(args) != cutlass::Status::kSuccess)
    return unsupported("CUTLASS cannot implement this GEMM");
  if (Gemm::get_workspace_size(args) > workspace_bytes) return unsupported("workspace too small");
  cutlass::Status s = gemm.initialize(args, workspace, stream);
  if (s == cutlass::Status::kSuccess) s = gemm.run(stream);
  if (s != cutlass::Status::kSuccess)
    return make_error(StatusCode::kBackendError, "backends.cuda.cutlass",
                      std::string("CUTLASS GEMM failed: ") + cutlass::cutlassGetStatusString(s));
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    return make_error(StatusCode::kBackendError, "backends.cuda.cutlass",
                      std::string("launch: ") + cudaGetErrorString(e));
  return {};
}

template <class T>
Status run_config(const Problem& p, int config, void* ws, size_t ws_bytes, cudaStream_t stream) {
  using namespace cute;
  using Coop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
  using CoopEpi = cutlass::epilogue::TmaWarpSpecializedCooperative;
  using Ping = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
  using PingEpi = cutlass::epilogue::TmaWarpSpecialized;
  switch (config) {
    case 0:
      return run_gelu_linear<T, Shape<_128, _128, _64>, Shape<_1, _2, _1>, Coop, CoopEpi>(
          p, ws, ws_bytes, stream);
    case 1:
      return run_gelu_linear<T, Shape<_128, _256, _64>, Shape<_1, _1, _1>, Coop, CoopEpi>(
          p, ws, ws_bytes, stream);
    case 2:
      return run_gelu_linear<T, Shape<_64, _128, _64>, Shape<_1, _1, _1>, Ping, PingEpi>(
          p, ws, ws_bytes, stream);
    default:
      return unsupported("no CUTLASS configuration " + std::to_string(config));
  }
}

}  // namespace kiln::cuda::cutlass_gemm::detail
