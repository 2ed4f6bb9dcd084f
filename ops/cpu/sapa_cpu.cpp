// CPU kernels: the backend of the SAPA window primitives (sapa_ops.h) and of
// the channel LayerNorm ops (norm_ops.h), dispatching over scalar types and
// instruction sets to the bodies in window_kernels.h and norm_kernels.h.
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include "isa.h"
#include "norm_ops.h"
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
  static void window_dot(const Feature& a, const Feature& b, at::Tensor& out,
                         const WindowGeometry& g) {
    SAPA_DISPATCH_FLOATING(out.scalar_type(), "sapa_window_dot_cpu", [&] {
      SAPA_MM_CPU_CALL(window_dot<scalar_t>, a, b, out, g);
    });
  }

  static void window_dot_softmax(const Feature& a, const Feature& b,
                                 at::Tensor& out, const WindowGeometry& g) {
    window_dot(a, b, out, g);
    SAPA_DISPATCH_FLOATING(out.scalar_type(), "sapa_softmax_taps_cpu", [&] {
      SAPA_MM_CPU_CALL(softmax_taps<scalar_t>, out);
    });
  }

  static void window_sum(const at::Tensor& t, const Feature& b, Feature& out,
                         const WindowGeometry& g) {
    SAPA_DISPATCH_FLOATING(t.scalar_type(), "sapa_window_sum_cpu", [&] {
      SAPA_MM_CPU_CALL(window_sum<scalar_t>, t, b, out, g);
    });
  }

  static void softmax_backward(const at::Tensor& grad, const at::Tensor& w,
                               at::Tensor* gs, const Feature& b, Feature* out,
                               const WindowGeometry& g) {
    at::Tensor grad_similarity = gs != nullptr ? *gs : at::empty_like(w);
    SAPA_DISPATCH_FLOATING(w.scalar_type(), "sapa_softmax_taps_backward_cpu",
                           [&] {
                             SAPA_MM_CPU_CALL(softmax_taps_backward<scalar_t>,
                                              grad, w, grad_similarity);
                           });
    if (out != nullptr) window_sum(grad_similarity, b, *out, g);
  }

  static void window_gather(const at::Tensor& t, const Feature& a,
                            Feature& out, const WindowGeometry& g) {
    SAPA_DISPATCH_FLOATING(t.scalar_type(), "sapa_window_gather_cpu", [&] {
      SAPA_MM_CPU_CALL(window_gather<scalar_t>, t, a, out, g);
    });
  }

  // The channel LayerNorm (NormOps): kernels in norm_kernels.h, each reading
  // x in its own layout.
  static constexpr bool kFusedPlanarProjection = true;

  static void stats(const Feature& x, at::Tensor& mean, at::Tensor& rstd,
                    double eps) {
    const int64_t B = x.tensor.size(0), C = x.tensor.size(1);
    const int64_t HW = x.tensor.size(2) * x.tensor.size(3);
    SAPA_DISPATCH_FLOATING(x.tensor.scalar_type(), "sapa_channel_stats_cpu",
                           [&] {
                             using acc_t = at::opmath_type<scalar_t>;
                             const scalar_t* px =
                                 x.tensor.const_data_ptr<scalar_t>();
                             acc_t* pm = mean.mutable_data_ptr<acc_t>();
                             acc_t* ps = rstd.mutable_data_ptr<acc_t>();
                             if (x.channels_last) {
                               SAPA_MM_CPU_CALL(channels_last_stats, px,
                                                B * HW, C, eps, pm, ps);
                             } else {
                               SAPA_MM_CPU_CALL(planar_stats, px, B, C, HW,
                                                eps, pm, ps);
                             }
                           });
  }

  // Statistics and weight @ x from one pass over each block of a planar x.
  static void stats_linear(const Feature& x, const at::Tensor& weight,
                           at::Tensor& out, at::Tensor& mean, at::Tensor& rstd,
                           double eps) {
    const int64_t B = x.tensor.size(0), C = x.tensor.size(1);
    const int64_t HW = x.tensor.size(2) * x.tensor.size(3);
    AT_DISPATCH_FLOATING_TYPES(
        x.tensor.scalar_type(), "sapa_channel_stats_linear_cpu", [&] {
          SAPA_MM_CPU_CALL(planar_stats_linear,
                           x.tensor.const_data_ptr<scalar_t>(), B, C, HW, eps,
                           weight.const_data_ptr<scalar_t>(), weight.size(0),
                           out.mutable_data_ptr<scalar_t>(),
                           mean.mutable_data_ptr<scalar_t>(),
                           rstd.mutable_data_ptr<scalar_t>());
        });
  }

  static void norm_backward(Feature& grad, const at::Tensor& x,
                            const at::Tensor& mean, const at::Tensor& rstd) {
    const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
    SAPA_DISPATCH_FLOATING(x.scalar_type(), "sapa_channel_norm_backward_cpu",
                           [&] {
                             using acc_t = at::opmath_type<scalar_t>;
                             scalar_t* pg =
                                 grad.tensor.mutable_data_ptr<scalar_t>();
                             const scalar_t* px = x.const_data_ptr<scalar_t>();
                             const acc_t* pm = mean.const_data_ptr<acc_t>();
                             const acc_t* ps = rstd.const_data_ptr<acc_t>();
                             if (grad.channels_last) {
                               SAPA_MM_CPU_CALL(channels_last_norm_backward,
                                                pg, px, B * HW, C, pm, ps);
                             } else {
                               SAPA_MM_CPU_CALL(planar_norm_backward, pg, px,
                                                B, C, HW, pm, ps);
                             }
                           });
  }

  // weight^T grad and the LayerNorm's backward over it per block of a
  // planar x: dL/dx is written once.
  static void linear_norm_backward(const at::Tensor& grad,
                                   const at::Tensor& weight, const Feature& x,
                                   const at::Tensor& mean,
                                   const at::Tensor& rstd, at::Tensor& dx) {
    const int64_t B = x.tensor.size(0), C = x.tensor.size(1);
    const int64_t HW = x.tensor.size(2) * x.tensor.size(3);
    const auto acc_type = at::toOpMathType(x.tensor.scalar_type());
    const auto w_t = weight.to(acc_type).t().contiguous();
    SAPA_DISPATCH_FLOATING(
        x.tensor.scalar_type(), "sapa_channel_linear_norm_backward", [&] {
          using acc_t = at::opmath_type<scalar_t>;
          SAPA_MM_CPU_CALL(planar_linear_norm_backward,
                           grad.const_data_ptr<scalar_t>(),
                           w_t.const_data_ptr<acc_t>(), weight.size(0),
                           x.tensor.const_data_ptr<scalar_t>(), B, C, HW,
                           mean.const_data_ptr<acc_t>(),
                           rstd.const_data_ptr<acc_t>(),
                           dx.mutable_data_ptr<scalar_t>());
        });
  }
};

}  // namespace
}  // namespace sapa_mm

SAPA_MM_REGISTER_BACKEND(sapa_mm, CPU, sapa_mm::CpuBackend)
SAPA_MM_REGISTER_NORM_OPS(sapa_mm, CPU, sapa_mm::CpuBackend)
