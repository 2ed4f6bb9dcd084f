// Bodies of the CPU kernels of a LayerNorm over the channels of a
// (B, C, H, W) feature, in either layout:
// * sapa_mm::channel_stats, the per-point mean and reciprocal standard
//   deviation. Two passes (mean, then the centred sum of squares) keep the
//   variance exact for features whose mean is large against their spread.
// * sapa_mm::channel_stats_linear, the same statistics and a projection
//   over channels (SAPA-B/G's LayerNorm folded into a linear) in one pass.
// * sapa_mm::channel_norm_backward_, the gradient of the LayerNorm's input
//   from that of its normalised output, in place.
// * sapa_mm::channel_linear_norm_backward, the gradient of the input of the
//   LayerNorm + projection from that of the projection, written once.
// A planar feature is processed in blocks of points with the loops
// vectorised over points, so no channels-last copy is made. Compiled once per
// instruction set (see isa.h): no include guard.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include <ATen/Parallel.h>

#include "sapa_window.h"

namespace sapa_mm {
namespace cpu {
namespace SAPA_CPU_ISA {

// Points per task of the planar kernels. Their two passes over a task's
// C x kPoints block read the second time from a contiguous float copy that
// the first pass makes: the block's channel rows, H*W apart in the feature,
// evict each other from the caches (the stride is a power of two for the
// usual sizes), while the copy stays in L2/L3. 512 points (2 KiB rows)
// measured faster here than 32 or 128 (short rows, poor prefetching) and
// about the same as 2048.
constexpr int64_t kPoints = 512;
// Values per row of the scratch buffers: kPoints and one cache line, so
// that the rows, otherwise a power of two apart, spread over the cache sets
// (the projection reads 16-point strips of all C rows, 8 times each).
constexpr int64_t kRowStride = kPoints + 64 / sizeof(float);

// 1 / sqrt(var + eps) from the centred sum of squares over C channels.
template <typename acc_t>
inline acc_t rstd_of(acc_t centred_squares, int64_t C, double eps) {
  return acc_t(1) / std::sqrt(centred_squares / C + static_cast<acc_t>(eps));
}

// Visits the (n, points [p0, p0 + len)) blocks of a planar (B, C, HW)
// feature, kPoints at a time, in parallel; block(n, p0, len, buffer) gets
// a scratch buffer of its task: `rows` rows of kRowStride values.
template <typename acc_t, typename Block>
void for_each_planar_block(int64_t B, int64_t HW, int64_t rows,
                           const Block& block) {
  const int64_t chunks = (HW + kPoints - 1) / kPoints;
  at::parallel_for(0, B * chunks, 1, [&](int64_t begin, int64_t end) {
    // Uninitialised: every block writes what it reads.
    std::unique_ptr<acc_t[]> buffer(new acc_t[rows * kRowStride]);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / chunks, p0 = (task % chunks) * kPoints;
      block(n, p0, std::min(kPoints, HW - p0), buffer.get());
    }
  });
}

// Statistics of the planar block of points [p0, p0 + len) of image xn
// (C rows HW apart) into m and r, leaving its float copy in
// copy[c * kRowStride + p], zero-padded to `padded` points; sum is a scratch
// row.
template <typename scalar_t, typename acc_t>
void planar_block_stats(const scalar_t* xn, int64_t C, int64_t HW,
                        int64_t len, int64_t padded, double eps, acc_t* copy,
                        acc_t* sum, acc_t* m, acc_t* r) {
  std::fill(sum, sum + kPoints, acc_t(0));
  for (int64_t c = 0; c < C; ++c) {
    const scalar_t* xc = xn + c * HW;
    acc_t* cc = copy + c * kRowStride;
    SAPA_SIMD
    for (int64_t p = 0; p < len; ++p) {
      cc[p] = static_cast<acc_t>(xc[p]);
      sum[p] += cc[p];
    }
    std::fill(cc + len, cc + padded, acc_t(0));
  }
  SAPA_SIMD
  for (int64_t p = 0; p < len; ++p) m[p] = sum[p] / C;
  std::fill(sum, sum + kPoints, acc_t(0));
  for (int64_t c = 0; c < C; ++c) {
    const acc_t* cc = copy + c * kRowStride;
    SAPA_SIMD
    for (int64_t p = 0; p < len; ++p) {
      const acc_t d = cc[p] - m[p];
      sum[p] += d * d;
    }
  }
  for (int64_t p = 0; p < len; ++p) r[p] = rstd_of(sum[p], C, eps);
}

template <typename scalar_t, typename acc_t>
void planar_stats(const scalar_t* x, int64_t B, int64_t C, int64_t HW,
                  double eps, acc_t* mean, acc_t* rstd) {
  // Scratch rows: the block's copy (C), then the per-point sums.
  for_each_planar_block<acc_t>(B, HW, C + 1, [&](int64_t n, int64_t p0,
                                                 int64_t len, acc_t* buffer) {
    planar_block_stats(x + n * C * HW + p0, C, HW, len, len, eps, buffer,
                       buffer + C * kRowStride, mean + n * HW + p0,
                       rstd + n * HW + p0);
  });
}

// Register tiles of planar_stats_linear's projection: kProjectRows outputs
// x kProjectPoints points, 8 AVX2 registers of float accumulators, each
// copy value loaded once per tile and each weight broadcast once per strip.
constexpr int kProjectRows = 4;
constexpr int64_t kProjectPoints = 16;
static_assert(kPoints % kProjectPoints == 0,
              "a block's padded strips stay within its scratch rows");

// The points of a block of len that project_block reads: len rounded up to
// whole strips.
inline int64_t projected_points(int64_t len) {
  return (len + kProjectPoints - 1) / kProjectPoints * kProjectPoints;
}

// out[d * out_stride + p] = sum_c w[d * C + c] * copy[c * kRowStride + p]
// for d < D and the block's len points, kProjectPoints at a time (the
// copy's values past len, up to projected_points(len), must be finite: they
// feed lanes that are not stored).
template <typename acc_t>
void project_block(const acc_t* copy, int64_t C, int64_t len, const acc_t* w,
                   int64_t D, acc_t* out, int64_t out_stride) {
  for (int64_t p0 = 0; p0 < len; p0 += kProjectPoints) {
    const int64_t points = std::min(kProjectPoints, len - p0);
    for (int64_t d0 = 0; d0 < D; d0 += kProjectRows) {
      const int64_t rows = std::min<int64_t>(kProjectRows, D - d0);
      // Rows past D repeat the last one and are not stored.
      const acc_t* wr[kProjectRows];
      for (int r = 0; r < kProjectRows; ++r) {
        wr[r] = w + (d0 + std::min<int64_t>(r, rows - 1)) * C;
      }
      acc_t acc[kProjectRows][kProjectPoints];
      // Channel 0 assigns: zeroing acc compiled to a memset that kept it
      // in memory.
      for (int r = 0; r < kProjectRows; ++r) {
        SAPA_SIMD
        for (int64_t l = 0; l < kProjectPoints; ++l) {
          acc[r][l] = wr[r][0] * copy[p0 + l];
        }
      }
      for (int64_t c = 1; c < C; ++c) {
        const acc_t* cc = copy + c * kRowStride + p0;
        for (int r = 0; r < kProjectRows; ++r) {
          const acc_t wc = wr[r][c];
          SAPA_SIMD
          for (int64_t l = 0; l < kProjectPoints; ++l) acc[r][l] += wc * cc[l];
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        acc_t* o = out + (d0 + r) * out_stride + p0;
        for (int64_t l = 0; l < points; ++l) o[l] = acc[r][l];
      }
    }
  }
}

// channel_stats of a planar x and out = w (D, C) @ x over channels, (B, D,
// HW) in acc_t, with one read of x: the projection runs on the block's float
// copy that the statistics made.
template <typename scalar_t, typename acc_t>
void planar_stats_linear(const scalar_t* x, int64_t B, int64_t C, int64_t HW,
                         double eps, const acc_t* w, int64_t D, acc_t* out,
                         acc_t* mean, acc_t* rstd) {
  for_each_planar_block<acc_t>(B, HW, C + 1, [&](int64_t n, int64_t p0,
                                                 int64_t len, acc_t* buffer) {
    // The last strip's lanes past len read zeros, not stale values.
    planar_block_stats(x + n * C * HW + p0, C, HW, len, projected_points(len),
                       eps, buffer, buffer + C * kRowStride,
                       mean + n * HW + p0, rstd + n * HW + p0);
    project_block(buffer, C, len, w, D, out + n * D * HW + p0, HW);
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

// In place, per point, with xhat = rstd * (x - mean) and g = dL/dxhat:
//   dL/dx = rstd * (g - mean_c(g)) - rstd * xhat * mean_c(g * xhat)
//         = rstd * (g - shift) - x_coeff * (x - mean)
// with shift = mean_c(g), x_coeff = rstd^3 mean_c(g * (x - mean)); the
// caller passes sum_g = sum_c g and sum_gx = sum_c g * (x - mean).
template <typename acc_t>
inline void norm_backward_coefficients(acc_t sum_g, acc_t sum_gx, int64_t C,
                                       acc_t rstd, acc_t* shift,
                                       acc_t* x_coeff) {
  *shift = sum_g / C;
  *x_coeff = rstd * rstd * rstd * sum_gx / C;
}

// dL/dx from g and the centred x - mean.
template <typename acc_t>
inline acc_t norm_backward_of(acc_t g, acc_t centred, acc_t rstd, acc_t shift,
                              acc_t x_coeff) {
  return rstd * (g - shift) - x_coeff * centred;
}

// The LayerNorm's backward for the planar block of points [p0, p0 + len)
// of image xn (C rows HW apart) from g = dL/dxhat in g_copy (rows of
// kRowStride), into on (C rows HW apart, may be the memory g came from).
// scratch: C + 2 rows, for x - mean and the per-point coefficients.
template <typename scalar_t, typename acc_t>
void planar_norm_backward_block(const acc_t* g_copy, const scalar_t* xn,
                                int64_t C, int64_t HW, int64_t len,
                                const acc_t* m, const acc_t* s,
                                acc_t* scratch, scalar_t* on) {
  acc_t* x_copy = scratch;
  acc_t* shift = scratch + C * kRowStride;
  acc_t* x_coeff = shift + kRowStride;
  std::fill(shift, shift + 2 * kRowStride, acc_t(0));
  for (int64_t c = 0; c < C; ++c) {
    const scalar_t* xc = xn + c * HW;
    const acc_t* gcc = g_copy + c * kRowStride;
    acc_t* xcc = x_copy + c * kRowStride;
    SAPA_SIMD
    for (int64_t p = 0; p < len; ++p) {
      xcc[p] = static_cast<acc_t>(xc[p]) - m[p];
      shift[p] += gcc[p];
      x_coeff[p] += gcc[p] * xcc[p];
    }
  }
  for (int64_t p = 0; p < len; ++p) {
    norm_backward_coefficients(shift[p], x_coeff[p], C, s[p], &shift[p],
                               &x_coeff[p]);
  }
  for (int64_t c = 0; c < C; ++c) {
    scalar_t* oc = on + c * HW;
    const acc_t* gcc = g_copy + c * kRowStride;
    const acc_t* xcc = x_copy + c * kRowStride;
    SAPA_SIMD
    for (int64_t p = 0; p < len; ++p) {
      oc[p] = static_cast<scalar_t>(
          norm_backward_of(gcc[p], xcc[p], s[p], shift[p], x_coeff[p]));
    }
  }
}

// Copies rows [0, rows) of a planar block (rows HW apart, len points) into
// acc_t scratch rows of kRowStride, zero-padded to `padded` points.
template <typename scalar_t, typename acc_t>
void copy_planar_block(const scalar_t* src, int64_t rows, int64_t HW,
                       int64_t len, int64_t padded, acc_t* dst) {
  for (int64_t c = 0; c < rows; ++c) {
    const scalar_t* sc = src + c * HW;
    acc_t* dc = dst + c * kRowStride;
    SAPA_SIMD
    for (int64_t p = 0; p < len; ++p) dc[p] = static_cast<acc_t>(sc[p]);
    std::fill(dc + len, dc + padded, acc_t(0));
  }
}

template <typename scalar_t, typename acc_t>
void planar_norm_backward(scalar_t* grad, const scalar_t* x, int64_t B,
                          int64_t C, int64_t HW, const acc_t* mean,
                          const acc_t* rstd) {
  // Scratch rows: the copy of g (C), then planar_norm_backward_block's.
  for_each_planar_block<acc_t>(B, HW, 2 * C + 2, [&](int64_t n, int64_t p0,
                                                     int64_t len,
                                                     acc_t* buffer) {
    scalar_t* gn = grad + n * C * HW + p0;
    copy_planar_block(gn, C, HW, len, len, buffer);
    planar_norm_backward_block(buffer, x + n * C * HW + p0, C, HW, len,
                               mean + n * HW + p0, rstd + n * HW + p0,
                               buffer + C * kRowStride, gn);
  });
}

// dL/dx of x -> LayerNorm over channels -> projection by w (D, C), for a
// planar x, from grad = dL/dprojection (B, D, HW): per block of points,
// g = w^T grad in scratch (project_block with w_t = w^T, (C, D)), then the
// LayerNorm's backward over it, so dL/dx is written once.
template <typename scalar_t, typename acc_t>
void planar_linear_norm_backward(const scalar_t* grad, const acc_t* w_t,
                                 int64_t D, const scalar_t* x, int64_t B,
                                 int64_t C, int64_t HW, const acc_t* mean,
                                 const acc_t* rstd, scalar_t* out) {
  // Scratch rows: grad's block (D), g (C), planar_norm_backward_block's.
  for_each_planar_block<acc_t>(
      B, HW, D + 2 * C + 2,
      [&](int64_t n, int64_t p0, int64_t len, acc_t* buffer) {
        acc_t* g = buffer + D * kRowStride;
        copy_planar_block(grad + n * D * HW + p0, D, HW, len,
                          projected_points(len), buffer);
        project_block(buffer, D, len, w_t, C, g, kRowStride);
        planar_norm_backward_block(g, x + n * C * HW + p0, C, HW, len,
                                   mean + n * HW + p0, rstd + n * HW + p0,
                                   g + C * kRowStride, out + n * C * HW + p0);
      });
}

template <typename scalar_t, typename acc_t>
void channels_last_norm_backward(scalar_t* grad, const scalar_t* x,
                                 int64_t points, int64_t C, const acc_t* mean,
                                 const acc_t* rstd) {
  const int64_t per_task = std::max<int64_t>(1, at::internal::GRAIN_SIZE / C);
  at::parallel_for(0, points, per_task, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      scalar_t* gp = grad + p * C;
      const scalar_t* xp = x + p * C;
      const acc_t m = mean[p], s = rstd[p];
      acc_t sum_g = 0, sum_gx = 0;
      SAPA_SIMD_REDUCTION(sum_g, sum_gx)
      for (int64_t c = 0; c < C; ++c) {
        const acc_t g = static_cast<acc_t>(gp[c]);
        sum_g += g;
        sum_gx += g * (static_cast<acc_t>(xp[c]) - m);
      }
      acc_t shift, x_coeff;
      norm_backward_coefficients(sum_g, sum_gx, C, s, &shift, &x_coeff);
      SAPA_SIMD
      for (int64_t c = 0; c < C; ++c) {
        gp[c] = static_cast<scalar_t>(
            norm_backward_of(static_cast<acc_t>(gp[c]),
                             static_cast<acc_t>(xp[c]) - m, s, shift, x_coeff));
      }
    }
  });
}

}  // namespace SAPA_CPU_ISA
}  // namespace cpu
}  // namespace sapa_mm
