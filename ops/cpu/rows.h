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
#include <vector>

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
// (C rows of W values, plane apart) to one channels-last row. Within a tile
// the loops run in the order that writes contiguously.
template <typename scalar_t>
void planar_to_row(const scalar_t* src, int64_t plane, int64_t C, int64_t W,
                   scalar_t* dst) {
  for_each_tile(C, W, [&](int64_t c0, int64_t c1, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      for (int64_t c = c0; c < c1; ++c) dst[j * C + c] = src[c * plane + j];
    }
  });
}

// The inverse: one channels-last row into a planar image row.
template <typename scalar_t>
void row_to_planar(const scalar_t* src, int64_t C, int64_t W, scalar_t* dst,
                   int64_t plane) {
  for_each_tile(C, W, [&](int64_t c0, int64_t c1, int64_t j0, int64_t j1) {
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t j = j0; j < j1; ++j) dst[c * plane + j] = src[j * C + c];
    }
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
