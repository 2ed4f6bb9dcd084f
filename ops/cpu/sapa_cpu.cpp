// CPU backend of the SAPA window primitives (see sapa_ops.h).
//
// Every primitive is a gather: each output point is written by exactly one
// task, so the loops parallelise over output rows without atomics and the
// results do not depend on the number of threads. Channels are innermost
// (NHWC), so the dot/axpy loops of sapa_window.h vectorise over channels.
#include <algorithm>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "sapa_ops.h"
#include "sapa_window.h"

namespace sapa_mm {
namespace {

#define SAPA_DISPATCH_FLOATING(TYPE, NAME, ...)                              \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half,                      \
                                  at::ScalarType::BFloat16, TYPE, NAME,      \
                                  __VA_ARGS__)

// Rows per parallel task such that each task does at least about
// at::internal::GRAIN_SIZE multiply-adds: small problems run inline instead of
// paying for a parallel region.
int64_t grain_rows(int64_t work_per_row) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE /
                                  std::max<int64_t>(1, work_per_row));
}

struct CpuBackend {
  // out[b,i,j,k] = <a[b,i,j,:], b[b,tap(i,j,k),:]>, 0 in the padding.
  static void window_dot(const at::Tensor& a, const at::Tensor& b,
                         at::Tensor& out, const WindowGeometry& g) {
    const int64_t C = a.size(3), KK = g.taps(), rows = a.size(0) * g.H;
    const int64_t grain = grain_rows(g.W * KK * C);
    SAPA_DISPATCH_FLOATING(a.scalar_type(), "sapa_window_dot_cpu", [&] {
      const scalar_t* pa = a.data_ptr<scalar_t>();
      const scalar_t* pb = b.data_ptr<scalar_t>();
      scalar_t* po = out.data_ptr<scalar_t>();
      at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          const int64_t n = row / g.H, ci = g.source_row(row % g.H);
          const scalar_t* b_n = pb + n * g.h * g.w * C;
          for (int64_t j = 0; j < g.W; ++j) {
            const int64_t p = row * g.W + j, cj = g.source_col(j);
            for (int64_t k = 0; k < KK; ++k) {
              const int64_t src = g.tap_source(ci, cj, k);
              po[p * KK + k] =
                  src < 0 ? scalar_t(0)
                          : static_cast<scalar_t>(
                                dot(pa + p * C, b_n + src * C, C));
            }
          }
        }
      });
    });
  }

  // out[b,i,j,:] = sum_k t[b,i,j,k] * b[b,tap(i,j,k),:].
  static void window_sum(const at::Tensor& t, const at::Tensor& b,
                         at::Tensor& out, const WindowGeometry& g) {
    const int64_t C = b.size(3), KK = g.taps(), rows = t.size(0) * g.H;
    const int64_t grain = grain_rows(g.W * KK * C);
    SAPA_DISPATCH_FLOATING(b.scalar_type(), "sapa_window_sum_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* pt = t.data_ptr<scalar_t>();
      const scalar_t* pb = b.data_ptr<scalar_t>();
      scalar_t* po = out.data_ptr<scalar_t>();
      at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
        std::vector<acc_t> acc(C);
        for (int64_t row = begin; row < end; ++row) {
          const int64_t n = row / g.H, ci = g.source_row(row % g.H);
          const scalar_t* b_n = pb + n * g.h * g.w * C;
          for (int64_t j = 0; j < g.W; ++j) {
            const int64_t p = row * g.W + j, cj = g.source_col(j);
            std::fill(acc.begin(), acc.end(), acc_t(0));
            for (int64_t k = 0; k < KK; ++k) {
              const int64_t src = g.tap_source(ci, cj, k);
              if (src >= 0) {
                axpy(static_cast<acc_t>(pt[p * KK + k]), b_n + src * C,
                     acc.data(), C);
              }
            }
            store(acc.data(), po + p * C, C);
          }
        }
      });
    });
  }

  // out[b,y,x,:] = sum over the output points (i,j) whose window covers
  // (y,x) of t[b,i,j,k(i,j,y,x)] * a[b,i,j,:].
  static void window_gather(const at::Tensor& t, const at::Tensor& a,
                            at::Tensor& out, const WindowGeometry& g) {
    const int64_t C = a.size(3), KK = g.taps(), rows = out.size(0) * g.h;
    // Each low-res row gathers about (H / h) * W * K * K points of C channels.
    const int64_t grain = grain_rows((g.H / g.h) * g.W * KK * C);
    SAPA_DISPATCH_FLOATING(a.scalar_type(), "sapa_window_gather_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* pt = t.data_ptr<scalar_t>();
      const scalar_t* pa = a.data_ptr<scalar_t>();
      scalar_t* po = out.data_ptr<scalar_t>();
      at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
        std::vector<acc_t> acc(C);
        for (int64_t row = begin; row < end; ++row) {
          const int64_t n = row / g.h, y = row % g.h;
          int64_t i0, i1;
          g.covering_rows(y, &i0, &i1);
          for (int64_t x = 0; x < g.w; ++x) {
            int64_t j0, j1;
            g.covering_cols(x, &j0, &j1);
            std::fill(acc.begin(), acc.end(), acc_t(0));
            for (int64_t i = i0; i < i1; ++i) {
              const int64_t ci = g.source_row(i);
              for (int64_t j = j0; j < j1; ++j) {
                const int64_t p = (n * g.H + i) * g.W + j;
                const int64_t k = g.tap_index(ci, g.source_col(j), y, x);
                axpy(static_cast<acc_t>(pt[p * KK + k]), pa + p * C,
                     acc.data(), C);
              }
            }
            store(acc.data(), po + (row * g.w + x) * C, C);
          }
        }
      });
    });
  }

 private:
  template <typename acc_t, typename scalar_t>
  static void store(const acc_t* acc, scalar_t* out, int64_t n) {
    SAPA_SIMD
    for (int64_t c = 0; c < n; ++c) out[c] = static_cast<scalar_t>(acc[c]);
  }
};

}  // namespace
}  // namespace sapa_mm

SAPA_MM_REGISTER_BACKEND(CPU, sapa_mm::CpuBackend)
