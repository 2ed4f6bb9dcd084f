// CUDA-only binding: device guard and current stream around the launchers of
// sapa_cuda.cu, registered as the CUDA kernels of the sapa_mm ops. Compiled
// only into a CUDAExtension (WITH_CUDA).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "sapa_cuda.h"
#include "sapa_ops.h"

namespace sapa_mm {
namespace {

using Launcher = void (*)(const at::Tensor&, const at::Tensor&, at::Tensor&,
                          const WindowGeometry&, cudaStream_t);

// The launchers take (B, H, W, C) views of channels-last tensors.
at::Tensor nhwc(const at::Tensor& t) { return t.permute({0, 2, 3, 1}); }
at::Tensor nhwc(const Feature& f) { return nhwc(f.tensor); }

template <Launcher launcher, typename X, typename Y, typename Out>
void on_current_stream(const X& x, const Y& y, Out& out,
                       const WindowGeometry& g) {
  auto out_nhwc = nhwc(out);
  const c10::cuda::CUDAGuard guard(out_nhwc.device());
  launcher(nhwc(x), nhwc(y), out_nhwc, g, at::cuda::getCurrentCUDAStream());
}

// The CUDA kernels read channels-last features only; SapaOps converts planar
// ones.
struct CudaBackend {
  static constexpr bool kPlanar = false;
  static void window_dot(const Feature& a, const Feature& b, at::Tensor& out,
                         const WindowGeometry& g) {
    on_current_stream<cuda::window_dot>(a, b, out, g);
  }
  static void window_sum(const at::Tensor& t, const Feature& b, Feature& out,
                         const WindowGeometry& g) {
    on_current_stream<cuda::window_sum>(t, b, out, g);
  }
  static void window_gather(const at::Tensor& t, const Feature& a,
                            Feature& out, const WindowGeometry& g) {
    on_current_stream<cuda::window_gather>(t, a, out, g);
  }
  // ATen's CUDA softmax is deterministic; run it over the taps, the last
  // dim of the NHWC view.
  static void softmax_taps(at::Tensor& t) {
    auto taps = nhwc(t);
    taps.copy_(at::_softmax(taps, -1, false));
  }
  static void softmax_taps_backward(const at::Tensor& grad,
                                    const at::Tensor& w, at::Tensor& out) {
    nhwc(out).copy_(at::_softmax_backward_data(nhwc(grad), nhwc(w), -1,
                                               w.scalar_type()));
  }
};

}  // namespace
}  // namespace sapa_mm

SAPA_MM_REGISTER_BACKEND(CUDA, sapa_mm::CudaBackend)
