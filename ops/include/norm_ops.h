// The channel LayerNorm operators, composed from a backend's primitives:
//   channel_stats(x, eps) -> (mean, rstd)
//   channel_stats_linear(x, weight, eps) -> (weight @ x over channels, mean,
//                                            rstd)
//   channel_norm_backward_(grad, x, mean, rstd)          in place
//   channel_linear_norm_backward(grad, weight, x, mean, rstd) -> dL/dx
// (semantics in sapa_mm/ops/channel_norm.py, which folds these LayerNorms
// into SAPA's projections and similarity). x is a (B, C, H, W) feature in
// either layout; mean and rstd are (B, H, W) in the op-math type of x.
#pragma once

#include <tuple>

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

#include "sapa_ops.h"

namespace sapa_mm {

// Backend must provide
//   stats(const Feature& x, at::Tensor& mean, at::Tensor& rstd, double eps)
//   norm_backward(Feature& grad, const at::Tensor& x, const at::Tensor& mean,
//                 const at::Tensor& rstd)   // x in grad's layout, in place
//   static constexpr bool kFusedPlanarProjection;
// and where kFusedPlanarProjection, for planar float32/float64 x,
//   stats_linear(const Feature& x, const at::Tensor& weight, at::Tensor& out,
//                at::Tensor& mean, at::Tensor& rstd, double eps)
//   linear_norm_backward(const at::Tensor& grad, const at::Tensor& weight,
//                        const Feature& x, const at::Tensor& mean,
//                        const at::Tensor& rstd, at::Tensor& dx)
// with outputs preallocated. Otherwise the projections are GEMMs (at::matmul)
// around stats and norm_backward.
template <typename Backend>
struct NormOps {
  static std::tuple<at::Tensor, at::Tensor> channel_stats(const at::Tensor& x,
                                                          double eps) {
    detail::check_4d("channel_stats", "x", x);
    TORCH_CHECK(x.size(1) > 0, "channel_stats: x ", x.sizes(),
                " has no channels");
    const auto f = detail::feature(x);
    auto mean = at::empty({x.size(0), x.size(2), x.size(3)},
                          x.options().dtype(at::toOpMathType(x.scalar_type())));
    auto rstd = at::empty_like(mean);
    if (mean.numel() > 0) Backend::stats(f, mean, rstd, eps);
    return {mean, rstd};
  }

  // channel_stats(x) and out = weight (D, C) @ x over channels, (B, D, H, W)
  // planar, for float32/float64 x: the LayerNorm + linear of SAPA-B/G
  // folded.
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> channel_stats_linear(
      const at::Tensor& x, const at::Tensor& weight, double eps) {
    constexpr const char* op = "channel_stats_linear";
    detail::check_4d(op, "x", x);
    TORCH_CHECK(
        x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
        ": x must be float32 or float64, got ", x.scalar_type());
    check_projection(op, weight, x);
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t D = weight.size(0);
    const auto f = detail::feature(x);
    if constexpr (Backend::kFusedPlanarProjection) {
      if (!f.channels_last && C > 0) {
        auto mean = at::empty({B, H, W}, x.options());
        auto rstd = at::empty_like(mean);
        auto out = at::empty({B, D, H, W}, x.options());
        Backend::stats_linear(f, weight.to(x.scalar_type()).contiguous(), out,
                              mean, rstd, eps);
        return {out, mean, rstd};
      }
    }
    // The GEMM reads x as it lies, planar or channels-last.
    auto [mean, rstd] = channel_stats(x, eps);
    auto out = at::matmul(weight.to(x.scalar_type()), x.flatten(2))
                   .view({B, D, H, W});
    return {out.contiguous(), mean, rstd};
  }

  // In place: grad, the gradient of LayerNorm-over-channels' normalised
  // output xhat = rstd * (x - mean), becomes the gradient of its input x,
  // with mean and rstd from channel_stats(x). grad and x are read in grad's
  // layout.
  static void channel_norm_backward_(at::Tensor& grad, const at::Tensor& x,
                                     const at::Tensor& mean,
                                     const at::Tensor& rstd) {
    constexpr const char* op = "channel_norm_backward_";
    detail::check_4d(op, "grad", grad);
    detail::check_4d(op, "x", x);
    detail::check_same_shape(op, "x", x, grad.sizes());
    TORCH_CHECK(x.scalar_type() == grad.scalar_type(), op, ": grad is ",
                grad.scalar_type(), " but x is ", x.scalar_type());
    check_point_stats(op, "mean", mean, x);
    check_point_stats(op, "rstd", rstd, x);
    auto g = detail::feature(grad);
    if (grad.numel() > 0) {
      Backend::norm_backward(g, x.contiguous(g.memory_format()),
                             mean.contiguous(), rstd.contiguous());
    }
    // A grad that was not contiguous in its layout was computed on a copy.
    if (!g.tensor.is_same(grad)) grad.copy_(g.tensor);
  }

  // dL/dx of x -> LayerNorm over channels (statistics mean, rstd from
  // channel_stats(x)) -> projection by weight (D, C), from grad = dL/dout
  // (B, D, H, W): dL/dxhat = weight^T grad, then channel_norm_backward_, in
  // x's layout.
  static at::Tensor channel_linear_norm_backward(const at::Tensor& grad,
                                                 const at::Tensor& weight,
                                                 const at::Tensor& x,
                                                 const at::Tensor& mean,
                                                 const at::Tensor& rstd) {
    constexpr const char* op = "channel_linear_norm_backward";
    detail::check_4d(op, "grad", grad);
    detail::check_4d(op, "x", x);
    check_projection(op, weight, x);
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t D = weight.size(0);
    detail::check_same_shape(op, "grad", grad, {B, D, H, W});
    TORCH_CHECK(grad.scalar_type() == x.scalar_type(), op, ": grad is ",
                grad.scalar_type(), " but x is ", x.scalar_type());
    check_point_stats(op, "mean", mean, x);
    check_point_stats(op, "rstd", rstd, x);
    const auto xf = detail::feature(x);
    if constexpr (Backend::kFusedPlanarProjection) {
      if (!xf.channels_last) {
        // W'^T dq and the LayerNorm's backward in one pass: dL/dx is
        // written once.
        auto dx = at::empty_like(xf.tensor);
        Backend::linear_norm_backward(grad.contiguous(), weight, xf,
                                      mean.contiguous(), rstd.contiguous(),
                                      dx);
        return dx;
      }
    }
    const auto w = weight.to(x.scalar_type());
    at::Tensor dx;
    if (xf.channels_last) {
      // grad^T weight is dL/dxhat point by point, channels innermost: the
      // GEMM writes it channels-last.
      dx = at::matmul(grad.flatten(2).transpose(1, 2), w)
               .view({B, H, W, C})
               .permute({0, 3, 1, 2});
    } else {
      dx = at::matmul(w.t(), grad.flatten(2)).view({B, C, H, W});
    }
    channel_norm_backward_(dx, x, mean, rstd);
    return dx;
  }

 private:
  // A projection over the channels of x: weight must be (D, C).
  static void check_projection(const char* op, const at::Tensor& weight,
                               const at::Tensor& x) {
    TORCH_CHECK(weight.dim() == 2 && weight.size(1) == x.size(1), op,
                ": weight must be (D, ", x.size(1), ") for x ", x.sizes(),
                ", got ", weight.sizes());
  }

  static void check_point_stats(const char* op, const char* name,
                                const at::Tensor& t, const at::Tensor& x) {
    const auto acc_type = at::toOpMathType(x.scalar_type());
    detail::check_same_shape(op, name, t, {x.size(0), x.size(2), x.size(3)});
    TORCH_CHECK(t.scalar_type() == acc_type, op, ": ", name, " must be ",
                acc_type, " for ", x.scalar_type(), " x, got ",
                t.scalar_type());
  }
};

// Registers NormOps<Backend> as the kernels of the channel LayerNorm ops of
// library `ns` for one dispatch key.
#define SAPA_MM_REGISTER_NORM_OPS(ns, dispatch_key, Backend)               \
  TORCH_LIBRARY_IMPL(ns, dispatch_key, m) {                                \
    m.impl("channel_stats", &::sapa_mm::NormOps<Backend>::channel_stats);  \
    m.impl("channel_stats_linear",                                         \
           &::sapa_mm::NormOps<Backend>::channel_stats_linear);            \
    m.impl("channel_norm_backward_",                                       \
           &::sapa_mm::NormOps<Backend>::channel_norm_backward_);          \
    m.impl("channel_linear_norm_backward",                                 \
           &::sapa_mm::NormOps<Backend>::channel_linear_norm_backward);    \
  }

}  // namespace sapa_mm
