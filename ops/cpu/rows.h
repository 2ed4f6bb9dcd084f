// Channels-last rows of (B, C, H, W) features for the CPU kernels.
//
// The kernels compute on channels-last rows: the W x C values of one image
// row with channels innermost, so their inner loops run over contiguous
// channels. A channels-last feature's rows are slices of the tensor. A planar
// (NCHW) feature's rows are transposed on the fly into a small cache that
// each task owns: a full-size layout copy of a high-res feature would cost a
// pass over memory and, on a fresh allocation, a page fault per 4 KiB, more
// than the kernels themselves.
// Compiled once per instruction set (see isa.h): no include guard.

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "isa.h"
#include "sapa_ops.h"

namespace sapa_mm {
namespace cpu {
namespace SAPA_CPU_ISA {

// Tiles of 8 channels x 32 columns: the 8 planar rows of a tile, which lie a
// power of two apart, do not evict each other from the 8-way L1, and 32
// columns give the prefetcher runs of two cache lines per row (measured
// 2-3x faster than 16 x 16 tiles).
constexpr int64_t kTileChannels = 8;
constexpr int64_t kTileColumns = 32;

#if SAPA_CPU_ISA_AVX2
// dst[k * dst_stride + i] = src[i * src_stride + k] for i, k < 8: eight
// 8-float loads, the 8 x 8 transpose in registers, eight 8-float stores.
// Scalar, the strided side of a transpose costs one load or store per value,
// and the compiler does not vectorise it: the planar rows' transposes then
// took longer than the window arithmetic.
inline void transpose_8x8(const float* src, int64_t src_stride, float* dst,
                          int64_t dst_stride) {
  const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + src_stride),
               r2 = _mm256_loadu_ps(src + 2 * src_stride),
               r3 = _mm256_loadu_ps(src + 3 * src_stride),
               r4 = _mm256_loadu_ps(src + 4 * src_stride),
               r5 = _mm256_loadu_ps(src + 5 * src_stride),
               r6 = _mm256_loadu_ps(src + 6 * src_stride),
               r7 = _mm256_loadu_ps(src + 7 * src_stride);
  // Pairs of rows interleaved, then pairs of pairs: s_m holds column m
  // (low half) and m + 4 (high half) of rows 0-3, u_m those of rows 4-7.
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
               t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
               t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  constexpr int kLow = _MM_SHUFFLE(1, 0, 1, 0), kHigh = _MM_SHUFFLE(3, 2, 3, 2);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, kLow),
               s1 = _mm256_shuffle_ps(t0, t2, kHigh),
               s2 = _mm256_shuffle_ps(t1, t3, kLow),
               s3 = _mm256_shuffle_ps(t1, t3, kHigh),
               u0 = _mm256_shuffle_ps(t4, t6, kLow),
               u1 = _mm256_shuffle_ps(t4, t6, kHigh),
               u2 = _mm256_shuffle_ps(t5, t7, kLow),
               u3 = _mm256_shuffle_ps(t5, t7, kHigh);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, u0, 0x20));
  _mm256_storeu_ps(dst + dst_stride, _mm256_permute2f128_ps(s1, u1, 0x20));
  _mm256_storeu_ps(dst + 2 * dst_stride, _mm256_permute2f128_ps(s2, u2, 0x20));
  _mm256_storeu_ps(dst + 3 * dst_stride, _mm256_permute2f128_ps(s3, u3, 0x20));
  _mm256_storeu_ps(dst + 4 * dst_stride, _mm256_permute2f128_ps(s0, u0, 0x31));
  _mm256_storeu_ps(dst + 5 * dst_stride, _mm256_permute2f128_ps(s1, u1, 0x31));
  _mm256_storeu_ps(dst + 6 * dst_stride, _mm256_permute2f128_ps(s2, u2, 0x31));
  _mm256_storeu_ps(dst + 7 * dst_stride, _mm256_permute2f128_ps(s3, u3, 0x31));
}
#endif

// dst[k * dst_stride + i] = src[i * src_stride + k] for i < rows, k < cols,
// written contiguously; float blocks of 8 x 8 in registers where the
// instruction set has them.
template <typename scalar_t>
inline void transpose(const scalar_t* src, int64_t src_stride, scalar_t* dst,
                      int64_t dst_stride, int64_t rows, int64_t cols) {
  int64_t full_rows = 0, full_cols = 0;
#if SAPA_CPU_ISA_AVX2
  if constexpr (std::is_same_v<scalar_t, float>) {
    full_rows = rows - rows % 8;
    full_cols = cols - cols % 8;
    for (int64_t i = 0; i < full_rows; i += 8) {
      for (int64_t k = 0; k < full_cols; k += 8) {
        transpose_8x8(src + i * src_stride + k, src_stride,
                      dst + k * dst_stride + i, dst_stride);
      }
    }
  }
#endif
  // The rest: the rows past the blocks in their columns, then the columns
  // past the blocks.
  const auto scalar = [&](int64_t k0, int64_t k1, int64_t i0) {
    for (int64_t k = k0; k < k1; ++k) {
      for (int64_t i = i0; i < rows; ++i) {
        dst[k * dst_stride + i] = src[i * src_stride + k];
      }
    }
  };
  if (full_rows < rows) scalar(0, full_cols, full_rows);
  scalar(full_cols, cols, 0);
}

// Calls tile(c0, c1, j0, j1) for the tiles of a C x W image row.
template <typename Tile>
inline void for_each_tile(int64_t C, int64_t W, const Tile& tile) {
  for (int64_t c0 = 0; c0 < C; c0 += kTileChannels) {
    const int64_t c1 = std::min(C, c0 + kTileChannels);
    for (int64_t j0 = 0; j0 < W; j0 += kTileColumns) {
      tile(c0, c1, j0, std::min(W, j0 + kTileColumns));
    }
  }
}

// dst[j * C + c] = src[c * plane + j] for c < C, j < W: one planar image row
// (C rows of W values, plane apart) to one channels-last row.
template <typename scalar_t>
void planar_to_row(const scalar_t* src, int64_t plane, int64_t C, int64_t W,
                   scalar_t* dst) {
  for_each_tile(C, W, [&](int64_t c0, int64_t c1, int64_t j0, int64_t j1) {
    transpose(src + c0 * plane + j0, plane, dst + j0 * C + c0, C, c1 - c0,
              j1 - j0);
  });
}

// The inverse: one channels-last row into a planar image row.
template <typename scalar_t>
void row_to_planar(const scalar_t* src, int64_t C, int64_t W, scalar_t* dst,
                   int64_t plane) {
  for_each_tile(C, W, [&](int64_t c0, int64_t c1, int64_t j0, int64_t j1) {
    transpose(src + j0 * C + c0, C, dst + c0 * plane + j0, plane, j1 - j0,
              c1 - c0);
  });
}

// Shape of a feature and the offsets of its rows in either layout.
struct RowLayout {
  int64_t C, H, W;
  bool channels_last;

  explicit RowLayout(const Feature& f)
      : C(f.tensor.size(1)),
        H(f.tensor.size(2)),
        W(f.tensor.size(3)),
        channels_last(f.channels_last) {}

  int64_t row_size() const { return W * C; }
  int64_t plane() const { return H * W; }
  // Offset of row i of image n: the row itself (channels-last) or its first
  // value in channel 0 (planar).
  int64_t offset(int64_t n, int64_t i) const {
    return n * C * H * W + i * W * (channels_last ? C : 1);
  }
};

// Reads channels-last rows of a feature. For a planar feature it keeps the
// last `capacity` rows read (slot = row % capacity): a task sliding a window
// of at most `capacity` consecutive rows down the image transposes each row
// once, and all rows of the window stay valid together.
template <typename scalar_t>
class RowReader {
 public:
  RowReader(const Feature& f, int64_t capacity)
      : layout_(f), data_(f.tensor.const_data_ptr<scalar_t>()) {
    if (!layout_.channels_last) {
      cache_.resize(capacity * layout_.row_size());
      tags_.assign(capacity, -1);
    }
  }

  const scalar_t* row(int64_t n, int64_t i) {
    const scalar_t* src = data_ + layout_.offset(n, i);
    if (layout_.channels_last) return src;
    const int64_t tag = n * layout_.H + i;
    const int64_t slot = tag % static_cast<int64_t>(tags_.size());
    scalar_t* dst = cache_.data() + slot * layout_.row_size();
    if (tags_[slot] != tag) {
      planar_to_row(src, layout_.plane(), layout_.C, layout_.W, dst);
      tags_[slot] = tag;
    }
    return dst;
  }

 private:
  RowLayout layout_;
  const scalar_t* data_;
  std::vector<scalar_t> cache_;
  std::vector<int64_t> tags_;
};

// Writes channels-last rows of a feature: row() gives where to write row i of
// image n, and done() stores it. A planar feature's rows are buffered in
// `capacity` slots (slot = row % capacity) and transposed by done(), so up to
// `capacity` consecutive rows can be open at once.
template <typename scalar_t>
class RowWriter {
 public:
  RowWriter(Feature& f, int64_t capacity)
      : layout_(f), data_(f.tensor.mutable_data_ptr<scalar_t>()) {
    if (!layout_.channels_last) {
      buffer_.resize(capacity * layout_.row_size());
      capacity_ = capacity;
    }
  }

  scalar_t* row(int64_t n, int64_t i) {
    if (layout_.channels_last) return data_ + layout_.offset(n, i);
    return buffer_.data() + slot(n, i) * layout_.row_size();
  }

  void done(int64_t n, int64_t i) {
    if (layout_.channels_last) return;
    row_to_planar(buffer_.data() + slot(n, i) * layout_.row_size(), layout_.C,
                  layout_.W, data_ + layout_.offset(n, i), layout_.plane());
  }

 private:
  int64_t slot(int64_t n, int64_t i) const {
    return (n * layout_.H + i) % capacity_;
  }

  RowLayout layout_;
  scalar_t* data_;
  std::vector<scalar_t> buffer_;
  int64_t capacity_ = 1;
};

}  // namespace SAPA_CPU_ISA
}  // namespace cpu
}  // namespace sapa_mm
