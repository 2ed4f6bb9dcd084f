// CPU kernels: the backend of the SAPA window primitives (see sapa_ops.h)
// and of the channel LayerNorm ops sapa_mm::channel_stats,
// channel_stats_linear, channel_norm_backward_ and
// channel_linear_norm_backward, dispatching over scalar types and
// instruction sets to the bodies in window_kernels.h and norm_kernels.h.
#include <tuple>

#include <ATen/Dispatch.h>
#include <torch/library.h>

#include "isa.h"
#include "sapa_ops.h"
#include "sapa_window.h"

#define SAPA_CPU_ISA generic
#define SAPA_CPU_ISA_AVX2 0
#include "norm_kernels.h"
#include "window_kernels.h"
#undef SAPA_CPU_ISA
#undef SAPA_CPU_ISA_AVX2
#if SAPA_MM_CPU_AVX2
SAPA_MM_BEGIN_AVX2
#define SAPA_CPU_ISA avx2
#define SAPA_CPU_ISA_AVX2 1
#include "norm_kernels.h"
#include "window_kernels.h"
#undef SAPA_CPU_ISA
#undef SAPA_CPU_ISA_AVX2
SAPA_MM_END_AVX2
#endif

namespace sapa_mm {
namespace {

#define SAPA_DISPATCH_FLOATING(TYPE, NAME, ...)                              \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half,                      \
                                  at::ScalarType::BFloat16, TYPE, NAME,      \
                                  __VA_ARGS__)

struct CpuBackend {
  static constexpr bool kPlanar = true;

  static void window_dot(const Feature& a, const Feature& b, at::Tensor& out,
                         const WindowGeometry& g) {
    SAPA_DISPATCH_FLOATING(out.scalar_type(), "sapa_window_dot_cpu", [&] {
      SAPA_MM_CPU_CALL(window_dot<scalar_t>, a, b, out, g);
    });
  }

  static void window_sum(const at::Tensor& t, const Feature& b, Feature& out,
                         const WindowGeometry& g) {
    SAPA_DISPATCH_FLOATING(t.scalar_type(), "sapa_window_sum_cpu", [&] {
      SAPA_MM_CPU_CALL(window_sum<scalar_t>, t, b, out, g);
    });
  }

  static void window_gather(const at::Tensor& t, const Feature& a,
                            Feature& out, const WindowGeometry& g) {
    SAPA_DISPATCH_FLOATING(t.scalar_type(), "sapa_window_gather_cpu", [&] {
      SAPA_MM_CPU_CALL(window_gather<scalar_t>, t, a, out, g);
    });
  }

  static void softmax_taps(at::Tensor& t) {
    SAPA_DISPATCH_FLOATING(t.scalar_type(), "sapa_softmax_taps_cpu", [&] {
      SAPA_MM_CPU_CALL(softmax_taps<scalar_t>, t);
    });
  }

  static void softmax_taps_backward(const at::Tensor& grad, const at::Tensor& w,
                                    at::Tensor& out) {
    SAPA_DISPATCH_FLOATING(w.scalar_type(), "sapa_softmax_taps_backward_cpu",
                           [&] {
                             SAPA_MM_CPU_CALL(softmax_taps_backward<scalar_t>,
                                              grad, w, out);
                           });
  }
};

// The per-point mean and 1 / sqrt(var + eps) over the channels of a
// (B, C, H, W) feature, read in its own layout (norm_kernels.h).
std::tuple<at::Tensor, at::Tensor> channel_stats(const at::Tensor& x,
                                                 double eps) {
  detail::check_4d("channel_stats", "x", x);
  TORCH_CHECK(x.size(1) > 0, "channel_stats: x ", x.sizes(),
              " has no channels");
  const auto f = detail::feature(x, /*planar_ok=*/true);
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const auto acc_type = at::toOpMathType(x.scalar_type());
  auto mean =
      at::empty({B, x.size(2), x.size(3)}, x.options().dtype(acc_type));
  auto rstd = at::empty_like(mean);
  SAPA_DISPATCH_FLOATING(x.scalar_type(), "sapa_channel_stats_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* px = f.tensor.const_data_ptr<scalar_t>();
    acc_t* pm = mean.mutable_data_ptr<acc_t>();
    acc_t* ps = rstd.mutable_data_ptr<acc_t>();
    if (f.channels_last) {
      SAPA_MM_CPU_CALL(channels_last_stats, px, B * HW, C, eps, pm, ps);
    } else {
      SAPA_MM_CPU_CALL(planar_stats, px, B, C, HW, eps, pm, ps);
    }
  });
  return {mean, rstd};
}

// A projection over the channels of x: weight must be (D, C).
void check_projection(const char* op, const at::Tensor& weight,
                      const at::Tensor& x) {
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == x.size(1), op,
              ": weight must be (D, ", x.size(1), ") for x ", x.sizes(),
              ", got ", weight.sizes());
}

// channel_stats(x) and out = weight (D, C) @ x over channels, (B, D, H, W)
// planar, for float32/float64 x: the LayerNorm + linear of SAPA-B/G folded
// (see sapa_mm/ops/channel_norm.py), reading a planar x once.
std::tuple<at::Tensor, at::Tensor, at::Tensor> channel_stats_linear(
    const at::Tensor& x, const at::Tensor& weight, double eps) {
  constexpr const char* op = "channel_stats_linear";
  detail::check_4d(op, "x", x);
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              op, ": x must be float32 or float64, got ", x.scalar_type());
  check_projection(op, weight, x);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t D = weight.size(0);
  const auto f = detail::feature(x, /*planar_ok=*/true);
  if (f.channels_last || C == 0) {
    // A channels-last x is read point by point: the GEMM reads it as it is.
    auto [mean, rstd] = channel_stats(x, eps);
    auto out = at::matmul(weight.to(x.scalar_type()), x.flatten(2))
                   .view({B, D, H, W});
    return {out.contiguous(), mean, rstd};
  }
  auto mean = at::empty({B, H, W}, x.options());
  auto rstd = at::empty_like(mean);
  auto out = at::empty({B, D, H, W}, x.options());
  const auto w = weight.to(x.scalar_type()).contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sapa_channel_stats_linear_cpu",
                             [&] {
                               SAPA_MM_CPU_CALL(
                                   planar_stats_linear,
                                   f.tensor.const_data_ptr<scalar_t>(), B, C,
                                   H * W, eps, w.const_data_ptr<scalar_t>(), D,
                                   out.mutable_data_ptr<scalar_t>(),
                                   mean.mutable_data_ptr<scalar_t>(),
                                   rstd.mutable_data_ptr<scalar_t>());
                             });
  return {out, mean, rstd};
}

void check_point_stats(const char* op, const char* name, const at::Tensor& t,
                       const at::Tensor& x) {
  const auto acc_type = at::toOpMathType(x.scalar_type());
  detail::check_same_shape(op, name, t, {x.size(0), x.size(2), x.size(3)});
  TORCH_CHECK(t.scalar_type() == acc_type, op, ": ", name, " must be ",
              acc_type, " for ", x.scalar_type(), " x, got ", t.scalar_type());
}

// In place: grad, the gradient of LayerNorm-over-channels' normalised output
// xhat = rstd * (x - mean), becomes the gradient of its input x, with mean
// and rstd from channel_stats(x) (norm_kernels.h). grad and x are read in
// grad's layout.
void channel_norm_backward_(at::Tensor& grad, const at::Tensor& x,
                            const at::Tensor& mean, const at::Tensor& rstd) {
  constexpr const char* op = "channel_norm_backward_";
  detail::check_4d(op, "grad", grad);
  detail::check_4d(op, "x", x);
  detail::check_same_shape(op, "x", x, grad.sizes());
  TORCH_CHECK(x.scalar_type() == grad.scalar_type(), op, ": grad is ",
              grad.scalar_type(), " but x is ", x.scalar_type());
  check_point_stats(op, "mean", mean, x);
  check_point_stats(op, "rstd", rstd, x);
  const auto g = detail::feature(grad, /*planar_ok=*/true);
  const auto xf = x.contiguous(g.memory_format());
  const auto m = mean.contiguous(), s = rstd.contiguous();
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  SAPA_DISPATCH_FLOATING(x.scalar_type(), "sapa_channel_norm_backward_cpu",
                         [&] {
                           using acc_t = at::opmath_type<scalar_t>;
                           scalar_t* pg = g.tensor.mutable_data_ptr<scalar_t>();
                           const scalar_t* px = xf.const_data_ptr<scalar_t>();
                           const acc_t* pm = m.const_data_ptr<acc_t>();
                           const acc_t* ps = s.const_data_ptr<acc_t>();
                           if (g.channels_last) {
                             SAPA_MM_CPU_CALL(channels_last_norm_backward, pg,
                                              px, B * HW, C, pm, ps);
                           } else {
                             SAPA_MM_CPU_CALL(planar_norm_backward, pg, px, B,
                                              C, HW, pm, ps);
                           }
                         });
  // A grad that was not contiguous in its layout was computed on a copy.
  if (!g.tensor.is_same(grad)) grad.copy_(g.tensor);
}

// dL/dx of x -> LayerNorm over channels (statistics mean, rstd from
// channel_stats(x)) -> projection by weight (D, C), from grad = dL/dout
// (B, D, H, W): dL/dxhat = weight^T grad, then channel_norm_backward_, in
// x's layout. A planar x takes the fused kernel, which writes dL/dx once.
at::Tensor channel_linear_norm_backward(const at::Tensor& grad,
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
  const auto xf = detail::feature(x, /*planar_ok=*/true);
  if (xf.channels_last) {
    // grad^T weight is dL/dxhat point by point, channels innermost: the
    // GEMM writes it channels-last and the backward runs over it in place.
    auto dx = at::matmul(grad.flatten(2).transpose(1, 2),
                         weight.to(x.scalar_type()))
                  .view({B, H, W, C})
                  .permute({0, 3, 1, 2});
    channel_norm_backward_(dx, x, mean, rstd);
    return dx;
  }
  const auto acc_type = at::toOpMathType(x.scalar_type());
  const auto w_t = weight.to(acc_type).t().contiguous();
  const auto g = grad.contiguous();
  const auto m = mean.contiguous(), s = rstd.contiguous();
  auto dx = at::empty_like(xf.tensor);
  SAPA_DISPATCH_FLOATING(x.scalar_type(), "sapa_channel_linear_norm_backward",
                         [&] {
                           using acc_t = at::opmath_type<scalar_t>;
                           SAPA_MM_CPU_CALL(
                               planar_linear_norm_backward,
                               g.const_data_ptr<scalar_t>(),
                               w_t.const_data_ptr<acc_t>(), D,
                               xf.tensor.const_data_ptr<scalar_t>(), B, C,
                               H * W, m.const_data_ptr<acc_t>(),
                               s.const_data_ptr<acc_t>(),
                               dx.mutable_data_ptr<scalar_t>());
                         });
  return dx;
}

}  // namespace
}  // namespace sapa_mm

SAPA_MM_REGISTER_BACKEND(CPU, sapa_mm::CpuBackend)

TORCH_LIBRARY_IMPL(sapa_mm, CPU, m) {
  m.impl("channel_stats", &sapa_mm::channel_stats);
  m.impl("channel_stats_linear", &sapa_mm::channel_stats_linear);
  m.impl("channel_norm_backward_", &sapa_mm::channel_norm_backward_);
  m.impl("channel_linear_norm_backward",
         &sapa_mm::channel_linear_norm_backward);
}
