// Per-point arithmetic of the SAPA kernels, shared by the CPU and the CUDA
// code paths: the mapping of an output point to its low-res window, the
// bounds of the zero padding and the inverse mapping used by the atomic-free
// backward. Everything here is header-only and __host__ __device__, so the
// CPU tests exercise the window arithmetic the GPU runs.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SAPA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SAPA_HOST_DEVICE inline
#endif

// Let the host compiler vectorise reductions without -ffast-math.
#if !defined(__CUDA_ARCH__) && defined(_OPENMP)
#define SAPA_PRAGMA(...) _Pragma(#__VA_ARGS__)
#define SAPA_SIMD_REDUCTION(...) \
  SAPA_PRAGMA(omp simd reduction(+ : __VA_ARGS__))
#define SAPA_SIMD SAPA_PRAGMA(omp simd)
#else
#define SAPA_SIMD_REDUCTION(...)
#define SAPA_SIMD
#endif

namespace sapa_mm {

// Geometry of one SAPA problem: a (h, w) low-res map, a (H, W) high-res map
// with H >= h and W >= w, and an odd K x K window around each output point's
// low-res position. All indices are int64 so large maps cannot overflow.
struct WindowGeometry {
  int64_t h, w;  // low-res (key / value) size
  int64_t H, W;  // high-res (query / output) size
  int64_t K;     // window size, odd
  int64_t r;     // window radius, K / 2

  SAPA_HOST_DEVICE WindowGeometry(int64_t h_, int64_t w_, int64_t H_,
                                  int64_t W_, int64_t K_)
      : h(h_), w(w_), H(H_), W(W_), K(K_), r(K_ / 2) {}

  SAPA_HOST_DEVICE int64_t taps() const { return K * K; }

  // Low-res row/column of output row i / column j: floor(i * h / H), in
  // integer arithmetic, so an exact 2x gives i / 2 bit for bit.
  SAPA_HOST_DEVICE int64_t source_row(int64_t i) const { return i * h / H; }
  SAPA_HOST_DEVICE int64_t source_col(int64_t j) const { return j * w / W; }

  // Flat low-res index (y * w + x) of tap k of the window centred on
  // (ci, cj), or -1 where the tap falls into the zero padding.
  SAPA_HOST_DEVICE int64_t tap_source(int64_t ci, int64_t cj, int64_t k) const {
    const int64_t y = ci - r + k / K;
    const int64_t x = cj - r + k % K;
    if (y < 0 || y >= h || x < 0 || x >= w) return -1;
    return y * w + x;
  }

  // Inverse of tap_source: the tap of the window centred on (ci, cj) that
  // reads low-res point (y, x); only valid for points that window covers.
  SAPA_HOST_DEVICE int64_t tap_index(int64_t ci, int64_t cj, int64_t y,
                                     int64_t x) const {
    return (y - ci + r) * K + (x - cj + r);
  }

  // The first output row whose source row is >= ci (H for ci = h); output
  // columns likewise.
  SAPA_HOST_DEVICE int64_t first_row(int64_t ci) const {
    return first_output(ci, h, H);
  }
  SAPA_HOST_DEVICE int64_t first_col(int64_t cj) const {
    return first_output(cj, w, W);
  }
  // Output rows [begin, end) whose source row is ci (at least one, as
  // H >= h); output columns likewise. These points share one window.
  SAPA_HOST_DEVICE void rows_of(int64_t ci, int64_t* begin,
                                int64_t* end) const {
    *begin = first_row(ci);
    *end = first_row(ci + 1);
  }
  SAPA_HOST_DEVICE void cols_of(int64_t cj, int64_t* begin,
                                int64_t* end) const {
    *begin = first_col(cj);
    *end = first_col(cj + 1);
  }
  // The most output rows that share one source row.
  SAPA_HOST_DEVICE int64_t max_rows_per_source() const {
    return (H + h - 1) / h;
  }

  // Output rows [begin, end) whose windows cover low-res row y, i.e. whose
  // source row lies in [y - r, y + r].
  SAPA_HOST_DEVICE void covering_rows(int64_t y, int64_t* begin,
                                      int64_t* end) const {
    covering(y, h, H, begin, end);
  }
  SAPA_HOST_DEVICE void covering_cols(int64_t x, int64_t* begin,
                                      int64_t* end) const {
    covering(x, w, W, begin, end);
  }
  // The most output rows whose windows cover one low-res row.
  SAPA_HOST_DEVICE int64_t max_covering_rows() const {
    return K * max_rows_per_source();
  }

 private:
  // The first output index whose source index is >= c: ceil(c * out / in).
  SAPA_HOST_DEVICE static int64_t first_output(int64_t c, int64_t in,
                                               int64_t out) {
    return (c * out + in - 1) / in;
  }
  SAPA_HOST_DEVICE void covering(int64_t c, int64_t in, int64_t out,
                                 int64_t* begin, int64_t* end) const {
    const int64_t lo = c - r < 0 ? 0 : c - r;
    const int64_t hi = c + r + 1 > in ? in : c + r + 1;
    *begin = first_output(lo, in, out);
    *end = first_output(hi, in, out);
  }
};

}  // namespace sapa_mm
