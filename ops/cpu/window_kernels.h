// Bodies of the CPU window primitives (semantics in sapa_ops.h), one
// template per primitive and scalar type. Compiled once per instruction set
// (see isa.h): no include guard.
//
// Every primitive is a gather: each output value is written by exactly one
// task, so the loops parallelise over low-res rows without atomics and the
// results do not depend on the number of threads. The kernels compute on
// channels-last rows (rows.h), so planar and channels-last features take the
// same code; the inner loops are the micro-kernels of micro_kernels.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include "sapa_ops.h"
#include "sapa_window.h"

#include "micro_kernels.h"
#include "rows.h"

namespace sapa_mm {
namespace cpu {
namespace SAPA_CPU_ISA {

// Items (low-res rows, points) per parallel task such that each task does at
// least about at::internal::GRAIN_SIZE multiply-adds: small problems run
// inline instead of paying for a parallel region.
inline int64_t grain(int64_t work_per_item) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE /
                                  std::max<int64_t>(1, work_per_item));
}

// The K x K window around one low-res point: taps[k] points at channel 0 of
// tap k in its channels-last row, or is null in the zero padding.
template <typename scalar_t>
class Window {
 public:
  Window(const WindowGeometry& g, int64_t C)
      : g_(g), C_(C), rows_(g.K), taps_(g.taps()) {}

  // Fetches the K rows around low-res row ci of image n.
  void set_row(RowReader<scalar_t>& reader, int64_t n, int64_t ci) {
    for (int64_t dy = 0; dy < g_.K; ++dy) {
      const int64_t y = ci - g_.r + dy;
      rows_[dy] = (y < 0 || y >= g_.h) ? nullptr : reader.row(n, y);
    }
  }

  const scalar_t* const* taps(int64_t cj) {
    for (int64_t dy = 0; dy < g_.K; ++dy) {
      for (int64_t dx = 0; dx < g_.K; ++dx) {
        const int64_t x = cj - g_.r + dx;
        taps_[dy * g_.K + dx] = (rows_[dy] == nullptr || x < 0 || x >= g_.w)
                                    ? nullptr
                                    : rows_[dy] + x * C_;
      }
    }
    return taps_.data();
  }

 private:
  const WindowGeometry& g_;
  int64_t C_;
  std::vector<const scalar_t*> rows_;
  std::vector<const scalar_t*> taps_;
};

// Visits the windows of one low-res row whose output rows are [i0, i1): for
// each low-res column, the output points (i, j) that share its window, in
// groups of at most kMaxPoints. point(i, j) gives the pair of pointers the
// micro-kernel takes for a point; kernel(P, taps, firsts, seconds) runs it
// on a group of P points.
template <typename scalar_t, typename First, typename Second, typename Point,
          typename Kernel>
void for_each_window(const WindowGeometry& g, Window<scalar_t>& window,
                     int64_t i0, int64_t i1, std::vector<First>& firsts,
                     std::vector<Second>& seconds, const Point& point,
                     const Kernel& kernel) {
  for (int64_t cj = 0; cj < g.w; ++cj) {
    const auto taps = window.taps(cj);
    int64_t j0, j1;
    g.cols_of(cj, &j0, &j1);
    firsts.clear();
    seconds.clear();
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t j = j0; j < j1; ++j) {
        const auto pointers = point(i, j);
        firsts.push_back(pointers.first);
        seconds.push_back(pointers.second);
      }
    }
    in_groups(firsts.size(), [&](auto P, int64_t k) {
      kernel(P, taps, &firsts[k], &seconds[k]);
    });
  }
}

// out[n,:,i,j] = sum_k t[n,k,i,j] * b[n,:,tap(i,j,k)].
template <typename scalar_t>
void window_sum(const at::Tensor& t, const Feature& b, Feature& out,
                const WindowGeometry& g) {
  const int64_t B = t.size(0), C = b.tensor.size(1), KK = g.taps();
  const int64_t sub = g.max_rows_per_source();
  const scalar_t* pt = t.const_data_ptr<scalar_t>();
  at::parallel_for(
      0, B * g.h, grain(sub * g.W * KK * C),
      [&](int64_t begin, int64_t end) {
        RowReader<scalar_t> b_rows(b, g.K);
        RowWriter<scalar_t> out_rows(out, sub);
        Window<scalar_t> window(g, C);
        std::vector<scalar_t*> out_row(sub), op;
        std::vector<const scalar_t*> wp;
        for (int64_t row = begin; row < end; ++row) {
          const int64_t n = row / g.h, ci = row % g.h;
          window.set_row(b_rows, n, ci);
          int64_t i0, i1;
          g.rows_of(ci, &i0, &i1);
          for (int64_t i = i0; i < i1; ++i) {
            out_row[i - i0] = out_rows.row(n, i);
          }
          for_each_window(
              g, window, i0, i1, wp, op,
              [&](int64_t i, int64_t j) {
                return std::make_pair(pt + ((n * g.H + i) * g.W + j) * KK,
                                      out_row[i - i0] + j * C);
              },
              [&](auto P, const scalar_t* const* taps,
                  const scalar_t* const* w, scalar_t* const* o) {
                sum_points<decltype(P)::value>(taps, KK, w, o, C);
              });
          for (int64_t i = i0; i < i1; ++i) out_rows.done(n, i);
        }
      });
}

// One task's pass of window_dot over low-res rows: out[n,k,i,j] =
// <a[n,:,i,j], b[n,:,tap(i,j,k)]> (0 in the padding) for the output rows
// (i, j) whose source row is ci.
template <typename scalar_t>
class DotRows {
 public:
  DotRows(const Feature& b, at::Tensor& out, const WindowGeometry& g,
          int64_t C)
      : g_(g),
        C_(C),
        out_(out.mutable_data_ptr<scalar_t>()),
        b_rows_(b, g.K),
        window_(g, C),
        a_row_(g.max_rows_per_source()) {}

  void run(RowReader<scalar_t>& a_rows, int64_t n, int64_t ci) {
    const int64_t KK = g_.taps();
    window_.set_row(b_rows_, n, ci);
    int64_t i0, i1;
    g_.rows_of(ci, &i0, &i1);
    for (int64_t i = i0; i < i1; ++i) a_row_[i - i0] = a_rows.row(n, i);
    for_each_window(
        g_, window_, i0, i1, ap_, op_,
        [&](int64_t i, int64_t j) {
          return std::make_pair(a_row_[i - i0] + j * C_,
                                out_ + ((n * g_.H + i) * g_.W + j) * KK);
        },
        [&](auto P, const scalar_t* const* taps, const scalar_t* const* a,
            scalar_t* const* o) {
          dot_points<decltype(P)::value>(taps, KK, a, o, C_);
        });
  }

 private:
  const WindowGeometry& g_;
  int64_t C_;
  scalar_t* out_;
  RowReader<scalar_t> b_rows_;
  Window<scalar_t> window_;
  std::vector<const scalar_t*> a_row_, ap_;
  std::vector<scalar_t*> op_;
};

// Low-res points per register tile of GatherRows: kGatherTargets x kBlock
// float accumulators are 8 AVX2 registers.
constexpr int kGatherTargets = 4;

// One task's pass of window_gather over low-res rows: out[n,:,y,x] = sum
// over the output points (i,j) whose window covers (y,x) of
// t[n,k(i,j,y,x),i,j] * a[n,:,i,j]. A register tile holds kBlock channels of
// kGatherTargets neighbouring points x of row y; it walks the covering
// output points (i, j) in order, loads each a[i,j] block once for the whole
// tile and adds it with the tap weight of each target (0 for a target its
// window misses). The accumulators are stored once, in float until then,
// and the summation order is fixed, so results are deterministic.
template <typename scalar_t>
class GatherRows {
 public:
  using acc_t = at::opmath_type<scalar_t>;

  GatherRows(const at::Tensor& t, Feature& out, const WindowGeometry& g,
             int64_t C)
      : g_(g),
        C_(C),
        t_(t.const_data_ptr<scalar_t>()),
        out_rows_(out, 1),
        source_col_(g.W),
        a_row_(g.max_covering_rows()),
        t_row_(g.max_covering_rows()) {
    for (int64_t j = 0; j < g.W; ++j) source_col_[j] = g.source_col(j);
  }

  void run(RowReader<scalar_t>& a_rows, int64_t n, int64_t y) {
    const int64_t KK = g_.taps();
    int64_t i0, i1;
    g_.covering_rows(y, &i0, &i1);
    rows_ = i1 - i0;
    for (int64_t i = i0; i < i1; ++i) {
      a_row_[i - i0] = a_rows.row(n, i);
      // Row y is tap row dy of the windows of output row i.
      const int64_t dy = y - g_.source_row(i) + g_.r;
      t_row_[i - i0] = t_ + (n * g_.H + i) * g_.W * KK + dy * g_.K;
    }
    scalar_t* out_row = out_rows_.row(n, y);
    for (int64_t x0 = 0; x0 < g_.w; x0 += kGatherTargets) {
      const int64_t targets =
          std::min<int64_t>(kGatherTargets, g_.w - x0);
      int64_t j0, j1, unused;
      g_.covering_cols(x0, &j0, &unused);
      g_.covering_cols(x0 + targets - 1, &unused, &j1);
      set_weights(x0, j0, j1);
      int64_t c0 = 0;
      for (; c0 + kBlock <= C_; c0 += kBlock) {
        gather_block<true>(x0, targets, j0, j1, c0, kBlock, out_row);
      }
      if (c0 < C_) {
        gather_block<false>(x0, targets, j0, j1, c0, C_ - c0, out_row);
      }
    }
    out_rows_.done(n, y);
  }

 private:
  // weights_[(i * (j1 - j0) + j - j0) * kGatherTargets + x]: the tap weight
  // of output point (i, j) (i-th covering row) for target x0 + x, 0 where
  // its window misses the target. Written once per tile, they are read by
  // every channel block without a test per multiply-add.
  void set_weights(int64_t x0, int64_t j0, int64_t j1) {
    const int64_t KK = g_.taps(), cols = j1 - j0;
    weights_.resize(rows_ * cols * kGatherTargets);
    for (int64_t i = 0; i < rows_; ++i) {
      for (int64_t j = j0; j < j1; ++j) {
        const scalar_t* tp = t_row_[i] + j * KK;
        acc_t* w = weights_.data() + (i * cols + j - j0) * kGatherTargets;
        for (int64_t x = 0; x < kGatherTargets; ++x) {
          const int64_t dx = x0 + x - source_col_[j] + g_.r;
          w[x] = dx >= 0 && dx < g_.K ? static_cast<acc_t>(tp[dx]) : acc_t(0);
        }
      }
    }
  }

  // Channels [c0, c0 + len) of targets [x0, x0 + targets) from the output
  // columns [j0, j1) of every covering row. kFull makes len the constant
  // kBlock, so the accumulators live in registers.
  template <bool kFull>
  void gather_block(int64_t x0, int64_t targets, int64_t j0, int64_t j1,
                    int64_t c0, int64_t len, scalar_t* out_row) const {
    const int64_t n = kFull ? kBlock : len;
    acc_t acc[kGatherTargets][kBlock];
    // acc += the contribution of output point (i, j); the first one is
    // assigned instead: zeroing acc compiled to a memset that kept it in
    // memory.
    const auto add = [&](int64_t i, int64_t j, auto first) {
      const scalar_t* a = a_row_[i] + j * C_ + c0;
      const acc_t* w =
          weights_.data() + (i * (j1 - j0) + j - j0) * kGatherTargets;
      for_constant<kGatherTargets>([&](auto x) {
        SAPA_SIMD
        for (int64_t c = 0; c < n; ++c) {
          const acc_t product = w[x] * static_cast<acc_t>(a[c]);
          acc[x][c] = decltype(first)::value ? product : acc[x][c] + product;
        }
      });
    };
    // Every low-res point is covered by at least one output point (H >= h).
    add(0, j0, std::true_type{});
    for (int64_t i = 0; i < rows_; ++i) {
      for (int64_t j = i == 0 ? j0 + 1 : j0; j < j1; ++j) {
        add(i, j, std::false_type{});
      }
    }
    for (int64_t x = 0; x < targets; ++x) {
      scalar_t* o = out_row + (x0 + x) * C_ + c0;
      SAPA_SIMD
      for (int64_t c = 0; c < n; ++c) o[c] = static_cast<scalar_t>(acc[x][c]);
    }
  }

  const WindowGeometry& g_;
  int64_t C_;
  const scalar_t* t_;
  RowWriter<scalar_t> out_rows_;
  std::vector<int64_t> source_col_;
  // The covering output rows of the current low-res row: their channels-last
  // rows of a, and their weights from tap row dy on.
  std::vector<const scalar_t*> a_row_;
  std::vector<const scalar_t*> t_row_;
  int64_t rows_ = 0;
  std::vector<acc_t> weights_;
};

// Runs every low-res row (n, y) of a batch of B through the workers that
// make_workers() gives each parallel task (called as workers(a_rows, n, y)),
// with a per-task reader of a keeping `capacity` rows.
template <typename scalar_t, typename MakeWorkers>
void for_each_low_res_row(const Feature& a, int64_t B,
                          const WindowGeometry& g, int64_t capacity,
                          int64_t work_per_row,
                          const MakeWorkers& make_workers) {
  at::parallel_for(0, B * g.h, grain(work_per_row),
                   [&](int64_t begin, int64_t end) {
                     RowReader<scalar_t> a_rows(a, capacity);
                     auto workers = make_workers();
                     for (int64_t row = begin; row < end; ++row) {
                       workers(a_rows, row / g.h, row % g.h);
                     }
                   });
}

template <typename scalar_t>
void window_dot(const Feature& a, const Feature& b, at::Tensor& out,
                const WindowGeometry& g) {
  const int64_t C = a.tensor.size(1), sub = g.max_rows_per_source();
  for_each_low_res_row<scalar_t>(
      a, out.size(0), g, sub, sub * g.W * g.taps() * C, [&] {
        return [dot = DotRows<scalar_t>(b, out, g, C)](
                   RowReader<scalar_t>& rows, int64_t n, int64_t y) mutable {
          dot.run(rows, n, y);
        };
      });
}

template <typename scalar_t>
void window_gather(const at::Tensor& t, const Feature& a, Feature& out,
                   const WindowGeometry& g) {
  const int64_t C = a.tensor.size(1), cover = g.max_covering_rows();
  for_each_low_res_row<scalar_t>(
      a, t.size(0), g, cover, cover * g.W * g.K * C, [&] {
        return [gather = GatherRows<scalar_t>(t, out, g, C)](
                   RowReader<scalar_t>& rows, int64_t n, int64_t y) mutable {
          gather.run(rows, n, y);
        };
      });
}

// Points per pass of softmax_taps: their exponentials are computed as one
// flat array, which the vectorised exp runs through without per-point tails.
constexpr int64_t kSoftmaxPoints = 64;

// In place, per point: t[p,:] = softmax(t[p,:]) over the K*K taps of a
// channels-last (B, K*K, H, W) tensor. Each point's sums are one task's
// serial loops, so results do not depend on the thread count (ATen's CPU
// softmax backward over a last dim of 25 does).
template <typename scalar_t>
void softmax_taps(at::Tensor& t) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t KK = t.size(1), points = t.numel() / std::max<int64_t>(1, KK);
  scalar_t* pt = t.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, points, grain(4 * KK), [&](int64_t begin,
                                                      int64_t end) {
    std::vector<acc_t> e(kSoftmaxPoints * KK);
    for (int64_t p0 = begin; p0 < end; p0 += kSoftmaxPoints) {
      const int64_t len = std::min(kSoftmaxPoints, end - p0);
      scalar_t* rows = pt + p0 * KK;
      for (int64_t p = 0; p < len; ++p) {
        const scalar_t* row = rows + p * KK;
        acc_t max = static_cast<acc_t>(row[0]);
        for (int64_t k = 1; k < KK; ++k) {
          max = std::max(max, static_cast<acc_t>(row[k]));
        }
        for (int64_t k = 0; k < KK; ++k) {
          e[p * KK + k] = static_cast<acc_t>(row[k]) - max;
        }
      }
      exp_inplace(e.data(), len * KK);
      for (int64_t p = 0; p < len; ++p) {
        const acc_t* ep = e.data() + p * KK;
        acc_t sum = 0;
        for (int64_t k = 0; k < KK; ++k) sum += ep[k];
        const acc_t scale = acc_t(1) / sum;
        scalar_t* row = rows + p * KK;
        for (int64_t k = 0; k < KK; ++k) {
          row[k] = static_cast<scalar_t>(ep[k] * scale);
        }
      }
    }
  });
}

// out[p,k] = w[p,k] * (grad[p,k] - sum_k' grad[p,k'] w[p,k']), the gradient
// of softmax_taps' input given its output w.
template <typename scalar_t>
void softmax_taps_backward(const at::Tensor& grad, const at::Tensor& w,
                           at::Tensor& out) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t KK = w.size(1), points = w.numel() / std::max<int64_t>(1, KK);
  const scalar_t* pg = grad.const_data_ptr<scalar_t>();
  const scalar_t* pw = w.const_data_ptr<scalar_t>();
  scalar_t* po = out.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, points, grain(3 * KK), [&](int64_t begin,
                                                      int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* g = pg + p * KK;
      const scalar_t* wp = pw + p * KK;
      acc_t dot = 0;
      for (int64_t k = 0; k < KK; ++k) {
        dot += static_cast<acc_t>(g[k]) * static_cast<acc_t>(wp[k]);
      }
      for (int64_t k = 0; k < KK; ++k) {
        po[p * KK + k] = static_cast<scalar_t>(
            static_cast<acc_t>(wp[k]) * (static_cast<acc_t>(g[k]) - dot));
      }
    }
  });
}

}  // namespace SAPA_CPU_ISA
}  // namespace cpu
}  // namespace sapa_mm
