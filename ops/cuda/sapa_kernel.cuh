// CUDA kernels of the SAPA window primitives: one thread per output element,
// grid-stride loops, int64 indices, accumulation in the op-math type. Each
// output element is written by exactly one thread (window_gather gathers over
// the covering output points instead of scattering), so there are no atomics
// and results are deterministic.
#pragma once

#include <cstdint>

#include "sapa_window.h"

namespace sapa_mm {
namespace cuda {

#define SAPA_CUDA_KERNEL_LOOP(index, n)                                   \
  for (int64_t index = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;    \
       index < (n); index += int64_t(blockDim.x) * gridDim.x)

// out[b,i,j,k] = <a[b,i,j,:], b[b,tap(i,j,k),:]>; one thread per (b,i,j,k).
template <typename scalar_t>
__global__ void window_dot_kernel(int64_t n, const scalar_t* __restrict__ a,
                                  const scalar_t* __restrict__ b,
                                  scalar_t* __restrict__ out, WindowGeometry g,
                                  int64_t C) {
  const int64_t KK = g.taps();
  SAPA_CUDA_KERNEL_LOOP(index, n) {
    const int64_t k = index % KK, p = index / KK;
    const int64_t j = p % g.W, row = p / g.W;
    const int64_t i = row % g.H, batch = row / g.H;
    const int64_t src = g.tap_source(g.source_row(i), g.source_col(j), k);
    out[index] =
        src < 0 ? scalar_t(0)
                : static_cast<scalar_t>(
                      dot(a + p * C, b + (batch * g.h * g.w + src) * C, C));
  }
}

// out[b,i,j,c] = sum_k t[b,i,j,k] * b[b,tap(i,j,k),c]; one thread per
// (b,i,j,c), so neighbouring threads read neighbouring channels.
template <typename scalar_t>
__global__ void window_sum_kernel(int64_t n, const scalar_t* __restrict__ t,
                                  const scalar_t* __restrict__ b,
                                  scalar_t* __restrict__ out, WindowGeometry g,
                                  int64_t C) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t KK = g.taps();
  SAPA_CUDA_KERNEL_LOOP(index, n) {
    const int64_t c = index % C, p = index / C;
    const int64_t j = p % g.W, row = p / g.W;
    const int64_t i = row % g.H, batch = row / g.H;
    const int64_t ci = g.source_row(i), cj = g.source_col(j);
    const scalar_t* b_n = b + batch * g.h * g.w * C + c;
    acc_t acc = 0;
    for (int64_t k = 0; k < KK; ++k) {
      const int64_t src = g.tap_source(ci, cj, k);
      if (src >= 0) {
        acc += static_cast<acc_t>(t[p * KK + k]) *
               static_cast<acc_t>(b_n[src * C]);
      }
    }
    out[index] = static_cast<scalar_t>(acc);
  }
}

// out[b,y,x,c] = sum over output points (i,j) whose window covers (y,x) of
// t[b,i,j,k(i,j,y,x)] * a[b,i,j,c]; one thread per (b,y,x,c).
template <typename scalar_t>
__global__ void window_gather_kernel(int64_t n,
                                     const scalar_t* __restrict__ t,
                                     const scalar_t* __restrict__ a,
                                     scalar_t* __restrict__ out,
                                     WindowGeometry g, int64_t C) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t KK = g.taps();
  SAPA_CUDA_KERNEL_LOOP(index, n) {
    const int64_t c = index % C, q = index / C;
    const int64_t x = q % g.w, row = q / g.w;
    const int64_t y = row % g.h, batch = row / g.h;
    int64_t i0, i1, j0, j1;
    g.covering_rows(y, &i0, &i1);
    g.covering_cols(x, &j0, &j1);
    acc_t acc = 0;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t ci = g.source_row(i);
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t p = (batch * g.H + i) * g.W + j;
        const int64_t k = g.tap_index(ci, g.source_col(j), y, x);
        acc += static_cast<acc_t>(t[p * KK + k]) *
               static_cast<acc_t>(a[p * C + c]);
      }
    }
    out[index] = static_cast<scalar_t>(acc);
  }
}

}  // namespace cuda
}  // namespace sapa_mm
