// CUDA kernels of the channel LayerNorm ops (semantics in
// ops/cpu/norm_kernels.h): per-point statistics over the channels of a
// (B, C, H, W) feature, and the LayerNorm's backward in place. A thread owns
// one point and walks its channels, so in a planar feature a warp reads 32
// neighbouring points of one channel at a time (coalesced); statistics and
// sums are accumulated in the op-math type.
#pragma once

#include <cstdint>

#include "fast_kernels.cuh"
#include "runtime.cuh"

namespace sapa_mm {
namespace cuda {
namespace fast {

// mean[p] and rstd[p] = 1 / sqrt(var[p] + eps) over the channels of point
// p, the variance from sums shifted by the point's first channel, so that a
// mean far from 0 does not cancel.
template <typename scalar_t, Layout L>
struct ChannelStats {
  using acc_t = at::opmath_type<scalar_t>;
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 4;
  static constexpr bool kSyncs = false;
  using Shared = NoShared;

  Span<const scalar_t> x;  // (B, C, H, W)
  Span<acc_t> mean, rstd;  // (B * H * W)
  int64_t points;          // B * H * W
  int32_t C, S;            // channels, H * W
  acc_t eps;

  SAPA_KERNEL_FN void operator()(const Thread& t, Shared&) const {
    SAPA_FOR_EACH_ITEM(t, p, points) {
      const int64_t n = p / S;
      const int32_t sp = static_cast<int32_t>(p - n * S);
      const auto x_n = x.offset(n * C * S);
      const acc_t shift =
          static_cast<acc_t>(x_n.load(element<L>(0, sp, C, S)));
      acc_t sum = 0, sum_sq = 0;
      for (int32_t c = 0; c < C; ++c) {
        const acc_t d =
            static_cast<acc_t>(x_n.load(element<L>(c, sp, C, S))) - shift;
        sum += d;
        sum_sq += d * d;
      }
      const acc_t m = sum / C;
      acc_t var = sum_sq / C - m * m;
      var = var > 0 ? var : acc_t(0);
      mean.store(p, shift + m);
      rstd.store(p, acc_t(1) / kernel_sqrt(var + eps));
    }
  }
};

// In place: grad, dL/dxhat of xhat = rstd * (x - mean), becomes dL/dx:
// rstd * (g - mean_c(g)) - rstd^3 (x - mean) mean_c(g (x - mean)).
template <typename scalar_t, Layout L>
struct ChannelNormBackward {
  using acc_t = at::opmath_type<scalar_t>;
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 4;
  static constexpr bool kSyncs = false;
  using Shared = NoShared;

  Span<scalar_t> grad;          // (B, C, H, W), in and out
  Span<const scalar_t> x;       // (B, C, H, W), grad's layout
  Span<const acc_t> mean, rstd;  // (B * H * W)
  int64_t points;
  int32_t C, S;

  SAPA_KERNEL_FN void operator()(const Thread& t, Shared&) const {
    SAPA_FOR_EACH_ITEM(t, p, points) {
      const int64_t n = p / S;
      const int32_t sp = static_cast<int32_t>(p - n * S);
      const auto g_n = grad.offset(n * C * S);
      const auto x_n = x.offset(n * C * S);
      const acc_t m = mean.load(p), s = rstd.load(p);
      acc_t sum_g = 0, sum_gx = 0;
      for (int32_t c = 0; c < C; ++c) {
        const int32_t e = element<L>(c, sp, C, S);
        const acc_t gv = static_cast<acc_t>(g_n.load(e));
        sum_g += gv;
        sum_gx += gv * (static_cast<acc_t>(x_n.load(e)) - m);
      }
      const acc_t shift = sum_g / C, x_coeff = s * s * s * sum_gx / C;
      for (int32_t c = 0; c < C; ++c) {
        const int32_t e = element<L>(c, sp, C, S);
        const acc_t xc = static_cast<acc_t>(x_n.load(e)) - m;
        g_n.store(e, static_cast<scalar_t>(
                         s * (static_cast<acc_t>(g_n.load(e)) - shift) -
                         x_coeff * xc));
      }
    }
  }
};

}  // namespace fast
}  // namespace cuda
}  // namespace sapa_mm
