// The CUDA code path's backend of SapaOps (sapa_ops.h) and NormOps
// (norm_ops.h): which kernels run, in which layout, on which stream. It is
// host code over a Device, which provides
//   struct Scope { explicit Scope(const at::Tensor& on); Executor executor; };
// held while launching: on the GPU the device guard and the current stream
// (sapa_cuda_ops.cpp), in the CPU emulation nothing but the checking
// executor (ops/emulation/sapa_emulation.cpp). Both run this same glue.
//
// The fast kernels read each primitive's features in one layout, that of
// its high-res feature: a low-res operand in the other layout is converted
// (a quarter of the size at 2x), and a low-res result is made in that layout
// and copied into the requested one. The simple kernels
// (SAPA_MM_CUDA_KERNELS=simple, and K > 7 or images too large for int32
// offsets) read channels-last features only, so planar ones are converted
// both ways, and the softmax is ATen's.
#pragma once

#include <ATen/ATen.h>

#include "launchers.h"
#include "sapa_ops.h"

namespace sapa_mm {
namespace cuda {

template <typename Device>
struct CudaBackend {
  using Executor = typename Device::Executor;
  using Launch = Launchers<Executor>;
  using Scope = typename Device::Scope;

  static void window_dot(const Feature& a, const Feature& b, at::Tensor& out,
                         const WindowGeometry& g) {
    dot(a, b, out, g, /*softmax=*/false);
  }

  static void window_dot_softmax(const Feature& a, const Feature& b,
                                 at::Tensor& out, const WindowGeometry& g) {
    dot(a, b, out, g, /*softmax=*/true);
  }

  static void window_sum(const at::Tensor& t, const Feature& b, Feature& out,
                         const WindowGeometry& g) {
    Scope scope(out.tensor);
    if (fast(g, b.tensor.size(1))) {
      Launch::window_sum(scope.executor, t, in_layout(b, out.channels_last),
                         out.tensor, g, out.channels_last);
      return;
    }
    auto out_cl = channels_last_result(out);
    Launch::simple_window_sum(scope.executor, t, channels_last(b), out_cl, g);
    finish(out, out_cl);
  }

  static void softmax_backward(const at::Tensor& grad, const at::Tensor& w,
                               at::Tensor* gs, const Feature& b, Feature* out,
                               const WindowGeometry& g) {
    Scope scope(w);
    if (fast(g, b.tensor.size(1))) {
      // One kernel: each thread forms its point's softmax backward in
      // registers and sums the keys with it.
      const bool cl = out != nullptr ? out->channels_last : b.channels_last;
      Launch::softmax_backward(
          scope.executor, grad, w, in_layout(b, cl),
          out != nullptr ? out->tensor : at::Tensor(),
          gs != nullptr ? *gs : at::Tensor(), g, cl);
      return;
    }
    const auto grad_similarity =
        at::_softmax_backward_data(taps_last(grad), taps_last(w), -1,
                                   w.scalar_type())
            .permute({0, 3, 1, 2});
    if (gs != nullptr) gs->copy_(grad_similarity);
    if (out != nullptr) {
      auto out_cl = channels_last_result(*out);
      Launch::simple_window_sum(scope.executor, grad_similarity.contiguous(
                                    at::MemoryFormat::ChannelsLast),
                                channels_last(b), out_cl, g);
      finish(*out, out_cl);
    }
  }

  static void window_gather(const at::Tensor& t, const Feature& a,
                            Feature& out, const WindowGeometry& g) {
    Scope scope(out.tensor);
    if (fast(g, a.tensor.size(1))) {
      if (out.channels_last == a.channels_last) {
        Launch::window_gather(scope.executor, t, a.tensor, out.tensor, g,
                              a.channels_last);
      } else {
        auto in_a_layout = at::empty_like(out.tensor, a.memory_format());
        Launch::window_gather(scope.executor, t, a.tensor, in_a_layout, g,
                              a.channels_last);
        out.tensor.copy_(in_a_layout);
      }
      return;
    }
    auto out_cl = channels_last_result(out);
    Launch::simple_window_gather(scope.executor, t, channels_last(a), out_cl,
                                 g);
    finish(out, out_cl);
  }

  // The channel LayerNorm's statistics and backward; the projections are
  // cuBLAS GEMMs around them (NormOps).
  static constexpr bool kFusedPlanarProjection = false;

  static void stats(const Feature& x, at::Tensor& mean, at::Tensor& rstd,
                    double eps) {
    Scope scope(x.tensor);
    Launch::channel_stats(scope.executor, x.tensor, mean, rstd, eps,
                          x.channels_last);
  }

  static void norm_backward(Feature& grad, const at::Tensor& x,
                            const at::Tensor& mean, const at::Tensor& rstd) {
    Scope scope(x);
    Launch::channel_norm_backward(scope.executor, grad.tensor, x, mean, rstd,
                                  grad.channels_last);
  }

 private:
  static bool fast(const WindowGeometry& g, int64_t channels) {
    return !use_simple_kernels() && fast_kernels_apply(g, channels);
  }

  static void dot(const Feature& a, const Feature& b, at::Tensor& out,
                  const WindowGeometry& g, bool softmax) {
    Scope scope(out);
    if (fast(g, a.tensor.size(1))) {
      Launch::window_dot(scope.executor, a.tensor,
                         in_layout(b, a.channels_last), out, g,
                         a.channels_last, softmax);
      return;
    }
    Launch::simple_window_dot(scope.executor, channels_last(a),
                              channels_last(b), out, g);
    if (softmax) {
      auto taps = taps_last(out);
      taps.copy_(at::_softmax(taps, -1, false));
    }
  }

  static at::Tensor in_layout(const Feature& f, bool channels_last) {
    return f.tensor.contiguous(channels_last ? at::MemoryFormat::ChannelsLast
                                             : at::MemoryFormat::Contiguous);
  }
  static at::Tensor channels_last(const Feature& f) {
    return in_layout(f, true);
  }
  // A channels-last tensor to compute out into: out itself where it is.
  static at::Tensor channels_last_result(const Feature& out) {
    return out.channels_last
               ? out.tensor
               : at::empty_like(out.tensor, at::MemoryFormat::ChannelsLast);
  }
  static void finish(Feature& out, const at::Tensor& computed) {
    if (!computed.is_same(out.tensor)) out.tensor.copy_(computed);
  }
  // A channels-last K*K-channel tensor as (B, H, W, K*K), the taps last.
  static at::Tensor taps_last(const at::Tensor& t) {
    return t.permute({0, 2, 3, 1});
  }
};

}  // namespace cuda
}  // namespace sapa_mm
