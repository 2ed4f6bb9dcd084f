// Inner loops of the CPU kernels, on channels-last rows (see rows.h).
//
// * The output points that share a low-res source point (2 x 2 of them for
//   an exact 2x upsampling) share one window: the micro-kernels load each
//   window value once for up to kMaxPoints points.
// * The channel loops run in register blocks of kBlock accumulators that the
//   compiler vectorises (omp simd), with one tail block for any C.
// Compiled once per instruction set (see isa.h): no include guard.

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

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

// Calls fn(std::integral_constant<int, i>{}) for i = 0 .. N-1, unrolled:
// arrays of accumulators indexed by i then stay in registers.
template <int N, typename Fn, int... I>
inline void for_constant_impl(const Fn& fn,
                              std::integer_sequence<int, I...>) {
  (fn(std::integral_constant<int, I>{}), ...);
}
template <int N, typename Fn>
inline void for_constant(const Fn& fn) {
  for_constant_impl<N>(fn, std::make_integer_sequence<int, N>{});
}

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
  acc_t acc[P][kBlock];
  // acc += tap k's values times the points' weights; the first tap in the
  // window is assigned instead, as zeroing acc compiled to a memset that
  // kept it in memory.
  const auto add = [&](int64_t k, auto first) {
    const scalar_t* v = taps[k] + c0;
    for_constant<P>([&](auto p) {
      const acc_t a = static_cast<acc_t>(w[p][k]);
      SAPA_SIMD
      for (int64_t c = 0; c < n; ++c) {
        const acc_t product = a * static_cast<acc_t>(v[c]);
        acc[p][c] = decltype(first)::value ? product : acc[p][c] + product;
      }
    });
  };
  int64_t k = 0;
  while (k < KK && taps[k] == nullptr) ++k;
  if (k == KK) {  // the whole window in the zero padding
    for (int p = 0; p < P; ++p) {
      for (int64_t c = 0; c < n; ++c) out[p][c0 + c] = scalar_t(0);
    }
    return;
  }
  add(k, std::true_type{});
  for (++k; k < KK; ++k) {
    if (taps[k] != nullptr) add(k, std::false_type{});
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

// v[i] = exp(v[i]) for i < n. In the AVX2 copy, floats go 8 at a time
// through Cephes' expf (range reduction to r in [-ln2/2, ln2/2], degree-6
// polynomial, relative error about 1e-7), as the scalar library exp was
// the softmax's whole cost; below -87.3, where floats become subnormal, the
// result is 0, and NaN stays NaN.
template <typename acc_t>
inline void exp_inplace(acc_t* v, int64_t n) {
  int64_t i = 0;
#if SAPA_CPU_ISA_AVX2
  if constexpr (std::is_same_v<acc_t, float>) {
    const __m256 lowest = _mm256_set1_ps(-87.3365478515625f);
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f);
    const __m256 ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    const __m256 one = _mm256_set1_ps(1.f);
    for (; i + 8 <= n; i += 8) {
      const __m256 x = _mm256_loadu_ps(v + i);
      // max(lowest, x) keeps a NaN x (the second operand wins).
      const __m256 clamped = _mm256_max_ps(lowest, x);
      const __m256 k = _mm256_round_ps(
          _mm256_mul_ps(clamped, log2e),
          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m256 r = _mm256_fnmadd_ps(k, ln2_hi, clamped);
      r = _mm256_fnmadd_ps(k, ln2_lo, r);
      __m256 p = _mm256_set1_ps(1.9875691500e-4f);
      p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
      p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
      p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
      p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
      p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
      p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, one));
      // 2^k from k's exponent bits; k >= -126 after the clamp.
      const __m256i bits = _mm256_slli_epi32(
          _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)),
          23);
      const __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
      // 0 below the clamp (x < lowest is false for NaN).
      _mm256_storeu_ps(
          v + i, _mm256_andnot_ps(_mm256_cmp_ps(x, lowest, _CMP_LT_OQ), e));
    }
  }
#endif
  for (; i < n; ++i) v[i] = std::exp(v[i]);
}

// Channels per lane group of dot_points' accumulators: one AVX2 register
// of floats.
constexpr int64_t kLanes = 8;
// Taps per register tile of dot_points: P x kTapTile accumulators of kLanes
// (12 AVX2 registers for P = 4) take each window value and each point's
// channels from memory once per tile, where one tap at a time reloaded the
// points' channels for every tap.
constexpr int kTapTile = 3;

// out[i] = sum_l acc[i * kLanes + l] for N vectors of kLanes lanes. With a
// small C (SAPA's 32-channel queries and keys) the reductions cost as much
// as the products: the AVX2 copy sums 8 float vectors at once, transposing
// them with horizontal adds, where one at a time took a serial chain of 7
// scalar adds each.
template <int N, typename acc_t>
inline void sum_lanes(const acc_t* acc, acc_t* out) {
  int i0 = 0;
#if SAPA_CPU_ISA_AVX2
  static_assert(kLanes == 8, "one AVX2 register of floats per vector");
  if constexpr (std::is_same_v<acc_t, float>) {
    for (; i0 < N; i0 += 8) {
      const auto lanes = [&](int i) {
        return i0 + i < N ? _mm256_loadu_ps(acc + (i0 + i) * kLanes)
                          : _mm256_setzero_ps();
      };
      // hadd(a, b) = (a0+a1, a2+a3, b0+b1, b2+b3 | the same of lanes 4-7):
      // two rounds leave vector i's sum of lanes 0-3 in lane i and that of
      // lanes 4-7 in lane i + 4 (i < 4) of x, and likewise for vectors 4-7
      // in y; the halves then add up.
      const __m256 x = _mm256_hadd_ps(_mm256_hadd_ps(lanes(0), lanes(1)),
                                      _mm256_hadd_ps(lanes(2), lanes(3)));
      const __m256 y = _mm256_hadd_ps(_mm256_hadd_ps(lanes(4), lanes(5)),
                                      _mm256_hadd_ps(lanes(6), lanes(7)));
      const __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20),
                                        _mm256_permute2f128_ps(x, y, 0x31));
      if (i0 + 8 <= N) {
        _mm256_storeu_ps(out + i0, sums);
      } else {
        float tail[8];
        _mm256_storeu_ps(tail, sums);
        for (int i = i0; i < N; ++i) out[i] = tail[i - i0];
      }
    }
  }
#endif
  for (; i0 < N; ++i0) {
    acc_t sum = 0;
    SAPA_SIMD_REDUCTION(sum)
    for (int64_t l = 0; l < kLanes; ++l) sum += acc[i0 * kLanes + l];
    out[i0] = sum;
  }
}

// out[p][t] = <a[p], v[t]> for T taps v of one window and P points.
template <int P, int T, typename scalar_t,
          typename acc_t = at::opmath_type<scalar_t>>
inline void dot_tile(const scalar_t* const* v, const scalar_t* const* a,
                     acc_t (*out)[kTapTile], int64_t C) {
  // The lanes start from the first kLanes channels' products: zeroing them
  // compiled to a memset that kept acc in memory.
  const int64_t vector_end = C - C % kLanes;
  acc_t acc[P][T][kLanes];
  const auto lanes = [&](int64_t c0, auto first) {
    for (int t = 0; t < T; ++t) {
      for (int p = 0; p < P; ++p) {
        SAPA_SIMD
        for (int64_t l = 0; l < kLanes; ++l) {
          const acc_t product = static_cast<acc_t>(a[p][c0 + l]) *
                                static_cast<acc_t>(v[t][c0 + l]);
          acc[p][t][l] = decltype(first)::value ? product
                                                : acc[p][t][l] + product;
        }
      }
    }
  };
  if (vector_end > 0) lanes(0, std::true_type{});
  for (int64_t c0 = kLanes; c0 < vector_end; c0 += kLanes) {
    lanes(c0, std::false_type{});
  }
  acc_t lane_sums[P * T];
  if (vector_end > 0) {
    sum_lanes<P * T>(&acc[0][0][0], lane_sums);
  } else {
    for (int i = 0; i < P * T; ++i) lane_sums[i] = 0;
  }
  for (int p = 0; p < P; ++p) {
    for (int t = 0; t < T; ++t) {
      acc_t sum = lane_sums[p * T + t];
      for (int64_t c = vector_end; c < C; ++c) {
        sum += static_cast<acc_t>(a[p][c]) * static_cast<acc_t>(v[t][c]);
      }
      out[p][t] = sum;
    }
  }
}

// out[p][k] = <a[p], taps[k]> (0 in the padding) for P points sharing one
// window.
template <int P, typename scalar_t>
void dot_points(const scalar_t* const* taps, int64_t KK,
                const scalar_t* const* a, scalar_t* const* out, int64_t C) {
  using acc_t = at::opmath_type<scalar_t>;
  // The taps in the window, kTapTile at a time.
  const scalar_t* v[kTapTile];
  int64_t k_of[kTapTile];
  int T = 0;
  acc_t sums[P][kTapTile];
  const auto flush = [&] {
    switch (T) {
      case 3: dot_tile<P, 3>(v, a, sums, C); break;
      case 2: dot_tile<P, 2>(v, a, sums, C); break;
      case 1: dot_tile<P, 1>(v, a, sums, C); break;
      default: return;
    }
    for (int p = 0; p < P; ++p) {
      for (int t = 0; t < T; ++t) {
        out[p][k_of[t]] = static_cast<scalar_t>(sums[p][t]);
      }
    }
    T = 0;
  };
  static_assert(kTapTile == 3, "flush() dispatches on tiles of 3 taps");
  for (int64_t k = 0; k < KK; ++k) {
    if (taps[k] == nullptr) {
      for (int p = 0; p < P; ++p) out[p][k] = scalar_t(0);
      continue;
    }
    v[T] = taps[k];
    k_of[T++] = k;
    if (T == kTapTile) flush();
  }
  flush();
}

}  // namespace SAPA_CPU_ISA
}  // namespace cpu
}  // namespace sapa_mm
