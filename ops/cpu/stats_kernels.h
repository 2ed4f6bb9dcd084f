// Bodies of the CPU kernel of sapa_mm::channel_stats: the per-point mean and
// reciprocal standard deviation over the channels of a (B, C, H, W) feature,
// i.e. the statistics of a LayerNorm over channels. A planar feature is
// reduced plane by plane with the loops vectorised over points, so no
// channels-last copy is made. Two passes (mean, then the centred sum of
// squares) keep the variance exact for features whose mean is large against
// their spread. Compiled once per instruction set (see isa.h): no include
// guard.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/Parallel.h>

#include "sapa_window.h"

namespace sapa_mm {
namespace cpu {
namespace SAPA_CPU_ISA {

// Points per task of the planar reduction: the accumulators stay in L1.
constexpr int64_t kPoints = 512;

// 1 / sqrt(var + eps) from the centred sum of squares over C channels.
template <typename acc_t>
inline acc_t rstd_of(acc_t centred_squares, int64_t C, double eps) {
  return acc_t(1) / std::sqrt(centred_squares / C + static_cast<acc_t>(eps));
}

template <typename scalar_t, typename acc_t>
void planar_stats(const scalar_t* x, int64_t B, int64_t C, int64_t HW,
                  double eps, acc_t* mean, acc_t* rstd) {
  const int64_t chunks = (HW + kPoints - 1) / kPoints;
  at::parallel_for(0, B * chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> sum(kPoints);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / chunks, p0 = (task % chunks) * kPoints;
      const int64_t len = std::min(kPoints, HW - p0);
      const scalar_t* xn = x + n * C * HW + p0;
      acc_t* m = mean + n * HW + p0;
      acc_t* s = rstd + n * HW + p0;
      std::fill(sum.begin(), sum.begin() + len, acc_t(0));
      for (int64_t c = 0; c < C; ++c) {
        const scalar_t* xc = xn + c * HW;
        SAPA_SIMD
        for (int64_t p = 0; p < len; ++p) sum[p] += static_cast<acc_t>(xc[p]);
      }
      SAPA_SIMD
      for (int64_t p = 0; p < len; ++p) m[p] = sum[p] / C;
      std::fill(sum.begin(), sum.begin() + len, acc_t(0));
      for (int64_t c = 0; c < C; ++c) {
        const scalar_t* xc = xn + c * HW;
        SAPA_SIMD
        for (int64_t p = 0; p < len; ++p) {
          const acc_t d = static_cast<acc_t>(xc[p]) - m[p];
          sum[p] += d * d;
        }
      }
      for (int64_t p = 0; p < len; ++p) {
        s[p] = rstd_of(sum[p], C, eps);
      }
    }
  });
}

template <typename scalar_t, typename acc_t>
void channels_last_stats(const scalar_t* x, int64_t points, int64_t C,
                         double eps, acc_t* mean, acc_t* rstd) {
  const int64_t per_task = std::max<int64_t>(1, at::internal::GRAIN_SIZE / C);
  at::parallel_for(0, points, per_task, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* xp = x + p * C;
      acc_t sum = 0;
      SAPA_SIMD_REDUCTION(sum)
      for (int64_t c = 0; c < C; ++c) sum += static_cast<acc_t>(xp[c]);
      const acc_t m = sum / C;
      acc_t sq = 0;
      SAPA_SIMD_REDUCTION(sq)
      for (int64_t c = 0; c < C; ++c) {
        const acc_t d = static_cast<acc_t>(xp[c]) - m;
        sq += d * d;
      }
      mean[p] = m;
      rstd[p] = rstd_of(sq, C, eps);
    }
  });
}

}  // namespace SAPA_CPU_ISA
}  // namespace cpu
}  // namespace sapa_mm
