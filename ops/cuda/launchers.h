// Launchers of the CUDA kernels, templated on the executor that runs them:
// CudaExecutor (sapa_cuda.cu) launches them on the GPU,
// emulation::HostExecutor (ops/emulation/) runs the same kernels on the CPU.
// This header declares them for the backend glue (cuda_backend.h), which is
// compiled by the host compiler; their bodies (launchers.cuh) include the
// kernels and are instantiated where the executor is defined.
//
// Tensors are contiguous: (B, C, H, W) features in the stated layout, and
// K*K-channel tensors (similarities, weights, their gradients) channels-last.
// Outputs are preallocated and fully overwritten; an undefined optional
// output is not computed.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <ATen/core/Tensor.h>

#include "sapa_window.h"

namespace sapa_mm {
namespace cuda {

// SAPA_MM_CUDA_KERNELS=simple selects the simple kernels (one thread per
// output element, channels-last, any K and size) instead of the fast ones;
// read at every call, so a process can compare both.
inline bool use_simple_kernels() {
  const char* env = std::getenv("SAPA_MM_CUDA_KERNELS");
  return env != nullptr && std::strcmp(env, "simple") == 0;
}

// The most blocks a launch asks for; every kernel loops grid-stride.
constexpr int64_t kMaxBlocks = 65535;

// The fast kernels unroll K x K windows up to 7 x 7 and index within one
// image in int32.
inline bool fast_kernels_apply(const WindowGeometry& g, int64_t channels) {
  constexpr int64_t kMaxInt32 = (int64_t{1} << 31) - 1;
  const int64_t points = g.H * g.W;
  return g.K <= 7 && points * channels <= kMaxInt32 &&
         points * g.taps() <= kMaxInt32;
}

template <typename Executor>
struct Launchers {
  // Fast kernels; features all in one layout.
  // out (B,H,W,KK) = <a (B,C,H,W), b (B,C,h,w)> over each window, softmaxed
  // over the taps if `softmax`.
  static void window_dot(Executor& ex, const at::Tensor& a,
                         const at::Tensor& b, const at::Tensor& out,
                         const WindowGeometry& g, bool channels_last,
                         bool softmax);
  // out (B,C,H,W) = sum over each window of t (B,H,W,KK) * b (B,C,h,w).
  static void window_sum(Executor& ex, const at::Tensor& t,
                         const at::Tensor& b, const at::Tensor& out,
                         const WindowGeometry& g, bool channels_last);
  // grad_similarity = weights * (grad - <grad, weights>) over the taps (the
  // softmax's backward) and out = window_sum(grad_similarity, b); either
  // output may be undefined.
  static void softmax_backward(Executor& ex, const at::Tensor& grad,
                               const at::Tensor& weights, const at::Tensor& b,
                               const at::Tensor& out,
                               const at::Tensor& grad_similarity,
                               const WindowGeometry& g, bool channels_last);
  // out (B,C,h,w) = the transpose of window_sum in b, applied to a
  // (B,C,H,W).
  static void window_gather(Executor& ex, const at::Tensor& t,
                            const at::Tensor& a, const at::Tensor& out,
                            const WindowGeometry& g, bool channels_last);

  // Simple kernels; features channels-last.
  static void simple_window_dot(Executor& ex, const at::Tensor& a,
                                const at::Tensor& b, const at::Tensor& out,
                                const WindowGeometry& g);
  static void simple_window_sum(Executor& ex, const at::Tensor& t,
                                const at::Tensor& b, const at::Tensor& out,
                                const WindowGeometry& g);
  static void simple_window_gather(Executor& ex, const at::Tensor& t,
                                   const at::Tensor& a, const at::Tensor& out,
                                   const WindowGeometry& g);

  // Channel LayerNorm: mean and rstd (B,H,W) in the op-math type of x
  // (B,C,H,W); the backward in place on grad, x in grad's layout.
  static void channel_stats(Executor& ex, const at::Tensor& x,
                            const at::Tensor& mean, const at::Tensor& rstd,
                            double eps, bool channels_last);
  static void channel_norm_backward(Executor& ex, const at::Tensor& grad,
                                    const at::Tensor& x,
                                    const at::Tensor& mean,
                                    const at::Tensor& rstd,
                                    bool channels_last);
};

}  // namespace cuda
}  // namespace sapa_mm
