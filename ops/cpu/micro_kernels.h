// Inner loops of the CPU kernels, on channels-last rows (see rows.h).
//
// * The output points that share a low-res source point (2 x 2 of them for
//   an exact 2x upsampling) share one window: the micro-kernels load each
//   window value once for up to kMaxPoints points.
// * The channel loops run in register blocks of kBlock accumulators that the
//   compiler vectorises (omp simd), with one tail block for any C.
// Compiled once per instruction set (see isa.h): no include guard.

#include <cstdint>
#include <type_traits>

#include <ATen/OpMathType.h>

#include "sapa_window.h"

namespace sapa_mm {
namespace cpu {
namespace SAPA_CPU_ISA {

// Channels per register block: 16 floats are two AVX2 or one AVX-512
// register per accumulator.
constexpr int64_t kBlock = 16;
// Output points per micro-kernel call: the 2 x 2 points of an exact 2x
// upsampling, so each window value loaded feeds four multiply-adds.
constexpr int kMaxPoints = 4;

// Calls fn(std::integral_constant<int, P>{}, first) for consecutive groups of
// P <= kMaxPoints of n points, so the micro-kernels get P at compile time.
template <typename Fn>
inline void in_groups(int64_t n, const Fn& fn) {
  int64_t first = 0;
  for (; first + kMaxPoints <= n; first += kMaxPoints) {
    fn(std::integral_constant<int, kMaxPoints>{}, first);
  }
  switch (n - first) {
    case 3: fn(std::integral_constant<int, 3>{}, first); break;
    case 2: fn(std::integral_constant<int, 2>{}, first); break;
    case 1: fn(std::integral_constant<int, 1>{}, first); break;
    default: break;
  }
}

// out[p][c] = sum_k w[p][k] * taps[k][c] over channels [c0, c0 + len) for P
// points sharing one window; taps[k] is null in the zero padding. kFull
// makes len the constant kBlock, so the accumulators live in registers.
template <int P, bool kFull, typename scalar_t,
          typename acc_t = at::opmath_type<scalar_t>>
inline void sum_block(const scalar_t* const* taps, int64_t KK,
                      const scalar_t* const* w, scalar_t* const* out,
                      int64_t c0, int64_t len) {
  const int64_t n = kFull ? kBlock : len;
  acc_t acc[P][kBlock] = {};
  for (int64_t k = 0; k < KK; ++k) {
    if (taps[k] == nullptr) continue;
    const scalar_t* v = taps[k] + c0;
    for (int p = 0; p < P; ++p) {
      const acc_t a = static_cast<acc_t>(w[p][k]);
      SAPA_SIMD
      for (int64_t c = 0; c < n; ++c) {
        acc[p][c] += a * static_cast<acc_t>(v[c]);
      }
    }
  }
  for (int p = 0; p < P; ++p) {
    SAPA_SIMD
    for (int64_t c = 0; c < n; ++c) {
      out[p][c0 + c] = static_cast<scalar_t>(acc[p][c]);
    }
  }
}

template <int P, typename scalar_t>
void sum_points(const scalar_t* const* taps, int64_t KK,
                const scalar_t* const* w, scalar_t* const* out, int64_t C) {
  int64_t c0 = 0;
  for (; c0 + kBlock <= C; c0 += kBlock) {
    sum_block<P, true>(taps, KK, w, out, c0, kBlock);
  }
  if (c0 < C) sum_block<P, false>(taps, KK, w, out, c0, C - c0);
}

// acc[p][c] += a[p][c0 + c] * v[c0 + c] over one channel block.
template <int P, bool kFull, typename scalar_t, typename acc_t>
inline void dot_block(const scalar_t* v, const scalar_t* const* a,
                      acc_t (*acc)[kBlock], int64_t c0, int64_t len) {
  const int64_t n = kFull ? kBlock : len;
  for (int p = 0; p < P; ++p) {
    const scalar_t* ap = a[p] + c0;
    SAPA_SIMD
    for (int64_t c = 0; c < n; ++c) {
      acc[p][c] += static_cast<acc_t>(ap[c]) * static_cast<acc_t>(v[c0 + c]);
    }
  }
}

// out[p][k] = <a[p], taps[k]> (0 in the padding) for P points sharing one
// window.
template <int P, typename scalar_t>
void dot_points(const scalar_t* const* taps, int64_t KK,
                const scalar_t* const* a, scalar_t* const* out, int64_t C) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t k = 0; k < KK; ++k) {
    const scalar_t* v = taps[k];
    if (v == nullptr) {
      for (int p = 0; p < P; ++p) out[p][k] = scalar_t(0);
      continue;
    }
    acc_t acc[P][kBlock] = {};
    int64_t c0 = 0;
    for (; c0 + kBlock <= C; c0 += kBlock) {
      dot_block<P, true>(v, a, acc, c0, kBlock);
    }
    if (c0 < C) dot_block<P, false>(v, a, acc, c0, C - c0);
    for (int p = 0; p < P; ++p) {
      acc_t sum = 0;
      SAPA_SIMD_REDUCTION(sum)
      for (int64_t c = 0; c < kBlock; ++c) sum += acc[p][c];
      out[p][k] = static_cast<scalar_t>(sum);
    }
  }
}

}  // namespace SAPA_CPU_ISA
}  // namespace cpu
}  // namespace sapa_mm
