// The fast CUDA kernels of the window primitives (semantics in sapa_ops.h).
//
// Features are read as they lie, planar (NCHW) or channels-last (NHWC): a
// kernel takes one Layout for all of its features, and the K*K-channel
// tensors (similarities, weights and their gradients) are (points, K*K).
// K is a template parameter (1, 3, 5, 7), so the taps unroll into registers;
// each thread finds its window once (WindowTaps: K row and K column offsets,
// two bit masks for the zero padding) and its inner loops have no integer
// division. Offsets within one image are int32 (the launcher checks that an
// image fits), the image offsets int64.
//
//   WindowDot     out[p, k] = <a[p, :], b[tap(p, k), :]>, optionally
//                 softmaxed over k in registers (similarity_softmax). A
//                 thread owns one output point, or 1/groups of its channels
//                 when the channels are many; the block's results meet in
//                 shared memory and leave as one contiguous, coalesced store.
//   WindowSum     out[p, c] = sum_k t[p, k] b[tap(p, k), c]. A thread owns
//                 one output point and a chunk of channels; the block stages
//                 its points' K*K weights through shared memory (one
//                 coalesced load). With kSoftmaxBackward, t is dL/dweights
//                 and the thread first forms the softmax's backward
//                 w * (t - <t, w>) in registers, stored too when the key
//                 needs it.
//   WindowGather  out[q, c] = sum over the output points p whose window
//                 covers q of t[p, k(p, q)] a[p, c]: the transpose of
//                 WindowSum as a gather, so no atomics and a fixed order of
//                 summation (deterministic). A thread owns one low-res point
//                 and a chunk of channels.
//
// Channels-last features move 16 bytes at a time where the channel count and
// the pointers allow it (float4, 8 halves), with scalar code otherwise.
#pragma once

#include <cstdint>

#include "runtime.cuh"
#include "sapa_window.h"

namespace sapa_mm {
namespace cuda {
namespace fast {

enum class Layout { kPlanar, kChannelsLast };

// Offset of element (c, s) of one image's C x S feature (s spatial).
template <Layout L>
SAPA_KERNEL_FN int32_t element(int32_t c, int32_t s, int32_t C, int32_t S) {
  return L == Layout::kPlanar ? c * S + s : s * C + c;
}

// Values per 16-byte vector.
template <typename scalar_t>
constexpr int kVector = 16 / sizeof(scalar_t);

// The K x K window of one output point in the low-res map: the spatial
// offsets y * w of its rows and x of its columns, and bit masks of the rows
// and columns inside the map (the rest is zero padding).
template <int K>
struct WindowTaps {
  int32_t row[K], col[K];
  uint32_t rows_in = 0, cols_in = 0;

  SAPA_KERNEL_FN WindowTaps(const WindowGeometry& g, int32_t i, int32_t j) {
    const int32_t ci = static_cast<int32_t>(g.source_row(i));
    const int32_t cj = static_cast<int32_t>(g.source_col(j));
    const int32_t h = static_cast<int32_t>(g.h);
    const int32_t w = static_cast<int32_t>(g.w);
    SAPA_UNROLL
    for (int d = 0; d < K; ++d) {
      const int32_t y = ci - K / 2 + d, x = cj - K / 2 + d;
      row[d] = y * w;
      col[d] = x;
      rows_in |= static_cast<uint32_t>(y >= 0 && y < h) << d;
      cols_in |= static_cast<uint32_t>(x >= 0 && x < w) << d;
    }
  }
  SAPA_KERNEL_FN bool inside(int dy, int dx) const {
    return ((rows_in >> dy) & (cols_in >> dx) & 1u) != 0;
  }
  SAPA_KERNEL_FN int32_t spatial(int dy, int dx) const {
    return row[dy] + col[dx];
  }
};

// The block size of a kernel whose threads each keep `bytes` of shared
// memory: 128, or fewer where that would pass the 48 KiB a block may hold
// statically.
constexpr int threads_for_shared(int bytes) {
  return bytes * 128 <= 48 * 1024 ? 128 : (bytes * 64 <= 48 * 1024 ? 64 : 32);
}

// In place, over the N values of one point.
template <int N, typename acc_t>
SAPA_KERNEL_FN void softmax(acc_t (&v)[N]) {
  acc_t m = v[0];
  SAPA_UNROLL
  for (int k = 1; k < N; ++k) m = v[k] > m ? v[k] : m;
  acc_t sum = 0;
  SAPA_UNROLL
  for (int k = 0; k < N; ++k) {
    v[k] = kernel_exp(v[k] - m);
    sum += v[k];
  }
  const acc_t inv = acc_t(1) / sum;
  SAPA_UNROLL
  for (int k = 0; k < N; ++k) v[k] *= inv;
}

// out[p, k] = <a[p, :], b[tap(p, k), :]> (softmaxed over k if `softmax`).
// Thread (pt, group) of a block owns point pt of the block's tile and the
// channels group, group + groups, ...; tiles are taken grid-stride.
template <typename scalar_t, int K, Layout L>
struct WindowDot {
  using acc_t = at::opmath_type<scalar_t>;
  static constexpr int KK = K * K;
  static constexpr int kThreads = threads_for_shared(KK * sizeof(acc_t));
  static constexpr int kMinBlocks = 1;  // registers as the K*K taps need
  static constexpr bool kSyncs = true;
  struct Shared {
    SharedArray<acc_t, kThreads * KK> tile;  // [group][point][tap]
  };

  Span<const scalar_t> a;  // (B, C, H, W)
  Span<const scalar_t> b;  // (B, C, h, w)
  Span<scalar_t> out;      // (B * H * W, KK)
  WindowGeometry g;
  int64_t points;  // B * H * W
  int32_t C;
  int32_t groups;  // 1, 2 or 4; 1 with softmax
  bool softmax_taps;

  SAPA_KERNEL_FN void operator()(const Thread& t, Shared& s) const {
    const int per_tile = kThreads / groups;
    const int pt = t.thread() % per_tile, group = t.thread() / per_tile;
    const int32_t W = static_cast<int32_t>(g.W);
    const int32_t S = static_cast<int32_t>(g.H) * W;
    const int32_t S_lo = static_cast<int32_t>(g.h * g.w);
    const int64_t tiles = ceil_div<int64_t>(points, per_tile);
    for (int64_t tile = t.block(); tile < tiles; tile += t.blocks()) {
      const int64_t p0 = tile * per_tile, p = p0 + pt;
      const int64_t left = points - p0;
      const int count = static_cast<int>(left < per_tile ? left : per_tile) *
                        KK;
      if (p < points) {
        const int64_t n = p / S;
        const int32_t sp = static_cast<int32_t>(p - n * S);
        const WindowTaps<K> taps(g, sp / W, sp % W);
        const auto a_n = a.offset(n * C * S);
        const auto b_n = b.offset(n * C * S_lo);
        acc_t acc[KK];
        SAPA_UNROLL
        for (int k = 0; k < KK; ++k) acc[k] = 0;
        for (int32_t c = group; c < C; c += groups) {
          const acc_t av =
              static_cast<acc_t>(a_n.load(element<L>(c, sp, C, S)));
          SAPA_UNROLL
          for (int dy = 0; dy < K; ++dy) {
            SAPA_UNROLL
            for (int dx = 0; dx < K; ++dx) {
              if (taps.inside(dy, dx)) {
                acc[dy * K + dx] +=
                    av * static_cast<acc_t>(b_n.load(
                             element<L>(c, taps.spatial(dy, dx), C, S_lo)));
              }
            }
          }
        }
        if (softmax_taps) softmax<KK>(acc);
        SAPA_UNROLL
        for (int k = 0; k < KK; ++k) {
          s.tile.store((group * per_tile + pt) * KK + k, acc[k]);
        }
      }
      t.sync();
      if (groups > 1) {
        // Each tile element is summed over the groups by one thread, in
        // group order.
        for (int e = t.thread(); e < count; e += kThreads) {
          acc_t sum = s.tile.load(e);
          for (int other = 1; other < groups; ++other) {
            sum += s.tile.load(other * per_tile * KK + e);
          }
          s.tile.store(e, sum);
        }
        t.sync();
      }
      // The tile's points are consecutive, so are their K*K results.
      for (int e = t.thread(); e < count; e += kThreads) {
        out.store(p0 * KK + e, static_cast<scalar_t>(s.tile.load(e)));
      }
      t.sync();
    }
  }
};

// out[p, c] = sum_k weights(p, k) b[tap(p, k), c], with weights(p, k) = t[p,
// k], or, with kSoftmaxBackward, w[p, k] (t[p, k] - <t[p, :], w[p, :]>) for
// t = dL/dw of the softmax output w, also written to grad_similarity where
// that is present. Work items are (tile of points, chunk of channels),
// grid-stride; out absent: the softmax backward alone.
template <typename scalar_t, int K, Layout L, bool kSoftmaxBackward>
struct WindowSum {
  using acc_t = at::opmath_type<scalar_t>;
  static constexpr int KK = K * K;
  static constexpr int kThreads =
      threads_for_shared((kSoftmaxBackward ? 2 : 1) * KK * sizeof(acc_t));
  static constexpr int kMinBlocks = 1;  // registers as the K*K taps need
  static constexpr bool kSyncs = true;
  // Channels per vector: 16 bytes, 8 for a 7 x 7 window, whose 49 weights
  // and loads in flight would not fit in the registers.
  static constexpr int V = K >= 7 ? kVector<scalar_t> / 2 : kVector<scalar_t>;
  struct Shared {
    SharedArray<acc_t, kThreads * KK> weights;
    SharedArray<acc_t, kSoftmaxBackward ? kThreads * KK : 1> grad;
  };

  Span<const scalar_t> t;           // (B * H * W, KK)
  Span<const scalar_t> softmaxed;   // (B * H * W, KK), kSoftmaxBackward
  Span<const scalar_t> b;           // (B, C, h, w)
  Span<scalar_t> out;               // (B, C, H, W), or absent
  Span<scalar_t> grad_similarity;   // (B * H * W, KK), or absent
  WindowGeometry g;
  int64_t points;  // B * H * W
  int32_t C;
  int32_t chunk;    // channels per work item, a multiple of V
  bool vectorized;  // channels-last, C % V == 0, spans aligned to V values

  SAPA_KERNEL_FN void operator()(const Thread& th, Shared& s) const {
    const int32_t W = static_cast<int32_t>(g.W);
    const int32_t S = static_cast<int32_t>(g.H) * W;
    const int32_t S_lo = static_cast<int32_t>(g.h * g.w);
    const int64_t tiles = ceil_div<int64_t>(points, kThreads);
    const int64_t chunks = out.present() ? ceil_div(C, chunk) : 1;
    for (int64_t item = th.block(); item < tiles * chunks;
         item += th.blocks()) {
      const int64_t tile = item % tiles;
      const int32_t c0 = static_cast<int32_t>(item / tiles) * chunk;
      const int64_t p0 = tile * kThreads, p = p0 + th.thread();
      const int64_t left = points - p0;
      const int count = static_cast<int>(left < kThreads ? left : kThreads) *
                        KK;
      for (int e = th.thread(); e < count; e += kThreads) {
        if (kSoftmaxBackward) {
          s.weights.store(e, static_cast<acc_t>(softmaxed.load(p0 * KK + e)));
          s.grad.store(e, static_cast<acc_t>(t.load(p0 * KK + e)));
        } else {
          s.weights.store(e, static_cast<acc_t>(t.load(p0 * KK + e)));
        }
      }
      th.sync();
      acc_t wk[KK] = {};
      if (p < points) {
        const int base = th.thread() * KK;
        SAPA_UNROLL
        for (int k = 0; k < KK; ++k) wk[k] = s.weights.load(base + k);
        if (kSoftmaxBackward) {
          acc_t gk[KK], dot = 0;
          SAPA_UNROLL
          for (int k = 0; k < KK; ++k) {
            gk[k] = s.grad.load(base + k);
            dot += gk[k] * wk[k];
          }
          SAPA_UNROLL
          for (int k = 0; k < KK; ++k) wk[k] *= gk[k] - dot;
        }
      }
      if (kSoftmaxBackward && grad_similarity.present() && c0 == 0) {
        // Each thread overwrites only the slots it alone has read.
        if (p < points) {
          SAPA_UNROLL
          for (int k = 0; k < KK; ++k) {
            s.weights.store(th.thread() * KK + k, wk[k]);
          }
        }
        th.sync();
        for (int e = th.thread(); e < count; e += kThreads) {
          grad_similarity.store(p0 * KK + e,
                                static_cast<scalar_t>(s.weights.load(e)));
        }
      }
      if (out.present() && p < points) {
        const int64_t n = p / S;
        const int32_t sp = static_cast<int32_t>(p - n * S);
        const WindowTaps<K> taps(g, sp / W, sp % W);
        const auto b_n = b.offset(n * C * S_lo);
        const auto out_n = out.offset(n * C * S);
        const int32_t c1 = c0 + chunk < C ? c0 + chunk : C;
        if (L == Layout::kChannelsLast && vectorized) {
          for (int32_t c = c0; c < c1; c += V) {
            acc_t acc[V];
            SAPA_UNROLL
            for (int v = 0; v < V; ++v) acc[v] = 0;
            SAPA_UNROLL
            for (int dy = 0; dy < K; ++dy) {
              SAPA_UNROLL
              for (int dx = 0; dx < K; ++dx) {
                if (taps.inside(dy, dx)) {
                  const auto bv = b_n.template load_vec<V>(
                      element<L>(c, taps.spatial(dy, dx), C, S_lo));
                  SAPA_UNROLL
                  for (int v = 0; v < V; ++v) {
                    acc[v] += wk[dy * K + dx] * static_cast<acc_t>(bv.v[v]);
                  }
                }
              }
            }
            Vec<scalar_t, V> o;
            SAPA_UNROLL
            for (int v = 0; v < V; ++v) o.v[v] = static_cast<scalar_t>(acc[v]);
            out_n.template store_vec<V>(element<L>(c, sp, C, S), o);
          }
        } else {
          for (int32_t c = c0; c < c1; ++c) {
            acc_t acc = 0;
            SAPA_UNROLL
            for (int dy = 0; dy < K; ++dy) {
              SAPA_UNROLL
              for (int dx = 0; dx < K; ++dx) {
                if (taps.inside(dy, dx)) {
                  acc += wk[dy * K + dx] *
                         static_cast<acc_t>(b_n.load(
                             element<L>(c, taps.spatial(dy, dx), C, S_lo)));
                }
              }
            }
            out_n.store(element<L>(c, sp, C, S), static_cast<scalar_t>(acc));
          }
        }
      }
      th.sync();
    }
  }
};

// out[q, c] = sum over the output points p whose window covers low-res point
// q of t[p, k(p, q)] a[p, c]. A thread owns (q, a chunk of kChunk channels),
// grid-stride with q fastest, so a warp covers neighbouring low-res points.
template <typename scalar_t, int K, Layout L>
struct WindowGather {
  using acc_t = at::opmath_type<scalar_t>;
  static constexpr int KK = K * K;
  static constexpr int kThreads = 256;
  // At most 85 registers, or 128 for wide windows and double.
  static constexpr int kMinBlocks = (K >= 7 || sizeof(acc_t) == 8) ? 2 : 3;
  static constexpr bool kSyncs = false;
  static constexpr int kChunk = 16;
  static constexpr int V = kVector<scalar_t>;
  using Shared = NoShared;

  Span<const scalar_t> t;  // (B * H * W, KK)
  Span<const scalar_t> a;  // (B, C, H, W)
  Span<scalar_t> out;      // (B, C, h, w)
  WindowGeometry g;
  int64_t low_points;  // B * h * w
  int32_t C;
  bool vectorized;  // channels-last, C % V == 0, spans aligned to V values

  SAPA_KERNEL_FN void operator()(const Thread& th, Shared&) const {
    const int32_t W = static_cast<int32_t>(g.W);
    const int32_t S = static_cast<int32_t>(g.H) * W;
    const int32_t w = static_cast<int32_t>(g.w);
    const int32_t S_lo = static_cast<int32_t>(g.h) * w;
    const int64_t items = low_points * ceil_div(C, kChunk);
    SAPA_FOR_EACH_ITEM(th, item, items) {
      const int64_t q = item % low_points;
      const int32_t c0 = static_cast<int32_t>(item / low_points) * kChunk;
      const int32_t nc = C - c0 < kChunk ? C - c0 : kChunk;
      const int64_t n = q / S_lo;
      const int32_t sq = static_cast<int32_t>(q - n * S_lo);
      const int32_t y = sq / w, x = sq % w;
      // Output columns [cols[m], cols[m + 1]) have source column
      // x - K/2 + m, so their window's column K - 1 - m is x (an empty range
      // where that source column is off the map).
      int32_t cols[K + 1];
      SAPA_UNROLL
      for (int m = 0; m <= K; ++m) {
        int32_t c = x - K / 2 + m;
        c = c < 0 ? 0 : (c > w ? w : c);
        cols[m] = static_cast<int32_t>(g.first_col(c));
      }
      const auto t_n = t.offset(n * S * KK);
      const auto a_n = a.offset(n * C * S);
      acc_t acc[kChunk];
      SAPA_UNROLL
      for (int c = 0; c < kChunk; ++c) acc[c] = 0;
      const bool vector = L == Layout::kChannelsLast && vectorized &&
                          nc == kChunk;
      SAPA_UNROLL
      for (int dy = 0; dy < K; ++dy) {
        const int32_t ci = y + K / 2 - dy;
        if (ci < 0 || ci >= g.h) continue;
        const int32_t i1 = static_cast<int32_t>(g.first_row(ci + 1));
        for (int32_t i = static_cast<int32_t>(g.first_row(ci)); i < i1; ++i) {
          SAPA_UNROLL
          for (int m = 0; m < K; ++m) {
            const int dx = K - 1 - m;
            for (int32_t j = cols[m]; j < cols[m + 1]; ++j) {
              const int32_t sp = i * W + j;
              const acc_t wt =
                  static_cast<acc_t>(t_n.load(sp * KK + dy * K + dx));
              if (vector) {
                SAPA_UNROLL
                for (int c = 0; c < kChunk; c += V) {
                  const auto av = a_n.template load_vec<V>(
                      element<L>(c0 + c, sp, C, S));
                  SAPA_UNROLL
                  for (int v = 0; v < V; ++v) {
                    acc[c + v] += wt * static_cast<acc_t>(av.v[v]);
                  }
                }
              } else {
                SAPA_UNROLL
                for (int c = 0; c < kChunk; ++c) {
                  if (c < nc) {
                    acc[c] += wt * static_cast<acc_t>(
                                       a_n.load(element<L>(c0 + c, sp, C, S)));
                  }
                }
              }
            }
          }
        }
      }
      const auto out_n = out.offset(n * C * S_lo);
      SAPA_UNROLL
      for (int c = 0; c < kChunk; ++c) {
        if (c < nc) {
          out_n.store(element<L>(c0 + c, sq, C, S_lo),
                      static_cast<scalar_t>(acc[c]));
        }
      }
    }
  }
};

}  // namespace fast
}  // namespace cuda
}  // namespace sapa_mm
