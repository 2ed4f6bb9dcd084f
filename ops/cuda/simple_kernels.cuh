// The simple CUDA kernels of the window primitives (semantics in sapa_ops.h):
// channels-last features, one thread per output element, grid-stride loops,
// int64 indices, accumulation in the op-math type. Each output element is
// written by exactly one thread (window_gather gathers over the covering
// output points instead of scattering), so there are no atomics and results
// are deterministic. Any K and any tensor size; the fast kernels of
// window_kernels.cuh are preferred where they apply, and these stay as the
// reference on the device (SAPA_MM_CUDA_KERNELS=simple).
#pragma once

#include <cstdint>

#include "runtime.cuh"
#include "sapa_window.h"

namespace sapa_mm {
namespace cuda {
namespace simple {

// What the simple kernels share: one thread per output element of out,
// grid-stride over its n elements, two inputs, features of C channels.
template <typename scalar_t>
struct Elementwise {
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 4;
  static constexpr bool kSyncs = false;
  using Shared = NoShared;

  Span<const scalar_t> first, second;
  Span<scalar_t> out;
  WindowGeometry g;
  int64_t C, n;
};

// out[b,i,j,k] = <a[b,i,j,:], b[b,tap(i,j,k),:]>; one thread per (b,i,j,k).
template <typename scalar_t>
struct WindowDot : Elementwise<scalar_t> {
  SAPA_KERNEL_FN void operator()(const Thread& t, NoShared&) const {
    const auto &a = this->first, &b = this->second;
    const auto& g = this->g;
    const int64_t C = this->C, n = this->n;
    using acc_t = at::opmath_type<scalar_t>;
    const int64_t KK = g.taps();
    SAPA_FOR_EACH_ITEM(t, index, n) {
      const int64_t k = index % KK, p = index / KK;
      const int64_t j = p % g.W, row = p / g.W;
      const int64_t i = row % g.H, batch = row / g.H;
      const int64_t src = g.tap_source(g.source_row(i), g.source_col(j), k);
      acc_t acc = 0;
      if (src >= 0) {
        const int64_t a0 = p * C, b0 = (batch * g.h * g.w + src) * C;
        for (int64_t c = 0; c < C; ++c) {
          acc += static_cast<acc_t>(a.load(a0 + c)) *
                 static_cast<acc_t>(b.load(b0 + c));
        }
      }
      this->out.store(index, static_cast<scalar_t>(acc));
    }
  }
};

// out[b,i,j,c] = sum_k t[b,i,j,k] * b[b,tap(i,j,k),c]; one thread per
// (b,i,j,c), so neighbouring threads read neighbouring channels.
template <typename scalar_t>
struct WindowSum : Elementwise<scalar_t> {
  SAPA_KERNEL_FN void operator()(const Thread& th, NoShared&) const {
    const auto &t = this->first, &b = this->second;
    const auto& g = this->g;
    const int64_t C = this->C, n = this->n;
    using acc_t = at::opmath_type<scalar_t>;
    const int64_t KK = g.taps();
    SAPA_FOR_EACH_ITEM(th, index, n) {
      const int64_t c = index % C, p = index / C;
      const int64_t j = p % g.W, row = p / g.W;
      const int64_t i = row % g.H, batch = row / g.H;
      const int64_t ci = g.source_row(i), cj = g.source_col(j);
      const int64_t b0 = batch * g.h * g.w * C + c;
      acc_t acc = 0;
      for (int64_t k = 0; k < KK; ++k) {
        const int64_t src = g.tap_source(ci, cj, k);
        if (src >= 0) {
          acc += static_cast<acc_t>(t.load(p * KK + k)) *
                 static_cast<acc_t>(b.load(b0 + src * C));
        }
      }
      this->out.store(index, static_cast<scalar_t>(acc));
    }
  }
};

// out[b,y,x,c] = sum over output points (i,j) whose window covers (y,x) of
// t[b,i,j,k(i,j,y,x)] * a[b,i,j,c]; one thread per (b,y,x,c).
template <typename scalar_t>
struct WindowGather : Elementwise<scalar_t> {
  SAPA_KERNEL_FN void operator()(const Thread& th, NoShared&) const {
    const auto &t = this->first, &a = this->second;
    const auto& g = this->g;
    const int64_t C = this->C, n = this->n;
    using acc_t = at::opmath_type<scalar_t>;
    const int64_t KK = g.taps();
    SAPA_FOR_EACH_ITEM(th, index, n) {
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
          acc += static_cast<acc_t>(t.load(p * KK + k)) *
                 static_cast<acc_t>(a.load(p * C + c));
        }
      }
      this->out.store(index, static_cast<scalar_t>(acc));
    }
  }
};

}  // namespace simple
}  // namespace cuda
}  // namespace sapa_mm
