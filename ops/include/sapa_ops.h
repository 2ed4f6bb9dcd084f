// The four SAPA operators, composed from three device primitives.
//
// Every tensor is a logical (B, C, H, W) tensor, as in PyTorch:
//   similarity(query (B,D,H,W), key (B,D,h,w))          -> (B,K*K,H,W)
//   aggregate(weights (B,K*K,H,W), value (B,C,h,w))      -> (B,C,H,W)
// and similarity_softmax, the softmax over the taps of similarity (SAPA's
// weights), with their backward passes. The K*K-channel tensors (similarities, weights
// and their gradients) are small and always channels-last. The feature
// tensors (query, key, value, the output and its gradient) may be planar
// (NCHW-contiguous) or channels-last; each result takes the layout of the
// input it corresponds to (the output that of value), so a model in either
// memory format never pays for a full-size layout copy. Each op is one of
// three window primitives, which a backend (CPU or CUDA) implements:
//   window_dot(a (B,C,H,W), b (B,C,h,w)):
//       out[p,k] = <a[p], b[tap(p,k)]>
//   window_sum(t (B,K*K,H,W), b (B,C,h,w)):
//       out[p] = sum_k t[p,k] b[tap(p,k)]
//   window_gather(t (B,K*K,H,W), a (B,C,H,W)):
//       out[q] = sum_{tap(p,k)=q} t[p,k] a[p]
// window_gather is the transpose of window_sum written as a gather over the
// output points whose windows cover q, so backward needs no atomics and is
// deterministic on every device.
#pragma once

#include <tuple>

#include <ATen/ATen.h>

#include "sapa_window.h"

namespace sapa_mm {

// A (B, C, H, W) feature tensor, contiguous in one of two memory layouts.
struct Feature {
  at::Tensor tensor;
  bool channels_last;

  at::MemoryFormat memory_format() const {
    return channels_last ? at::MemoryFormat::ChannelsLast
                         : at::MemoryFormat::Contiguous;
  }
  // An uninitialised feature of the given size in the same layout.
  Feature new_empty(at::IntArrayRef size) const {
    return {at::empty(size, tensor.options().memory_format(memory_format())),
            channels_last};
  }
};

namespace detail {

inline void check_4d(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.dim() == 4, op, ": ", name, " must be 4-D (B, C, H, W), got ",
              t.sizes());
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name,
              " must be floating point, got ", t.scalar_type());
}

// t as a feature in its own layout (channels-last where its strides say so)
// or, where the backend reads only channels-last, in that layout.
inline Feature feature(const at::Tensor& t, bool planar_ok) {
  const bool channels_last =
      !planar_ok ||
      t.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast
                                    : at::MemoryFormat::Contiguous;
  return {t.contiguous(format), channels_last};
}

inline at::Tensor channels_last(const at::Tensor& t) {
  return t.contiguous(at::MemoryFormat::ChannelsLast);
}

// Checks a (high-res, low-res) pair and returns the geometry.
inline WindowGeometry geometry(const char* op, const char* hi_name,
                               const at::Tensor& hi, const char* lo_name,
                               const at::Tensor& lo, int64_t kernel_size) {
  check_4d(op, hi_name, hi);
  check_4d(op, lo_name, lo);
  TORCH_CHECK(kernel_size > 0 && kernel_size % 2 == 1, op,
              ": kernel_size must be odd and positive, got ", kernel_size);
  TORCH_CHECK(hi.device() == lo.device(), op, ": ", hi_name, " is on ",
              hi.device(), " but ", lo_name, " is on ", lo.device());
  TORCH_CHECK(hi.scalar_type() == lo.scalar_type(), op, ": ", hi_name, " is ",
              hi.scalar_type(), " but ", lo_name, " is ", lo.scalar_type());
  TORCH_CHECK(hi.size(0) == lo.size(0), op, ": batch sizes differ, ", hi_name,
              " ", hi.sizes(), " vs ", lo_name, " ", lo.sizes());
  TORCH_CHECK(lo.size(2) > 0 && lo.size(3) > 0 && hi.size(2) >= lo.size(2) &&
                  hi.size(3) >= lo.size(3),
              op, ": ", hi_name, " ", hi.sizes(),
              " must be at least as large as ", lo_name, " ", lo.sizes(),
              " in (H, W)");
  return WindowGeometry(lo.size(2), lo.size(3), hi.size(2), hi.size(3),
                        kernel_size);
}

inline void check_same_shape(const char* op, const char* name,
                             const at::Tensor& t, at::IntArrayRef expected) {
  TORCH_CHECK(t.sizes() == expected, op, ": ", name, " must have shape ",
              expected, ", got ", t.sizes());
}

}  // namespace detail

// Backend must provide
//   static constexpr bool kPlanar;  // whether it reads planar features
//   window_dot(const Feature& a, const Feature& b, at::Tensor& out, g)
//   window_sum(const at::Tensor& t, const Feature& b, Feature& out, g)
//   window_gather(const at::Tensor& t, const Feature& a, Feature& out, g)
//   softmax_taps(at::Tensor& t)  // in place, over the K*K channels
//   softmax_taps_backward(const at::Tensor& grad, const at::Tensor& w,
//                         at::Tensor& out)
// with channels-last K*K-channel tensors; outputs are preallocated and fully
// overwritten.
template <typename Backend>
struct SapaOps {
  static at::Tensor similarity(const at::Tensor& query, const at::Tensor& key,
                               int64_t kernel_size) {
    const auto g =
        detail::geometry("similarity", "query", query, "key", key, kernel_size);
    TORCH_CHECK(query.size(1) == key.size(1),
                "similarity: query and key channels differ, query ",
                query.sizes(), " vs key ", key.sizes());
    auto out = at::empty({query.size(0), g.taps(), g.H, g.W},
                         query.options().memory_format(
                             at::MemoryFormat::ChannelsLast));
    Backend::window_dot(feature(query), feature(key), out, g);
    return out;
  }

  static std::tuple<at::Tensor, at::Tensor> similarity_backward(
      const at::Tensor& grad, const at::Tensor& query, const at::Tensor& key,
      int64_t kernel_size) {
    const auto g = detail::geometry("similarity_backward", "query", query,
                                    "key", key, kernel_size);
    detail::check_4d("similarity_backward", "grad", grad);
    detail::check_same_shape("similarity_backward", "grad", grad,
                             {query.size(0), g.taps(), g.H, g.W});
    const auto grad_cl = detail::channels_last(grad);
    const auto q = feature(query), k = feature(key);
    auto grad_query = q.new_empty(query.sizes());
    auto grad_key = k.new_empty(key.sizes());
    Backend::window_sum(grad_cl, k, grad_query, g);
    Backend::window_gather(grad_cl, q, grad_key, g);
    return {result(grad_query, query), result(grad_key, key)};
  }

  // softmax over the taps of similarity(query, key): SAPA's weights.
  static at::Tensor similarity_softmax(const at::Tensor& query,
                                       const at::Tensor& key,
                                       int64_t kernel_size) {
    auto out = similarity(query, key, kernel_size);
    Backend::softmax_taps(out);
    return out;
  }

  static std::tuple<at::Tensor, at::Tensor> similarity_softmax_backward(
      const at::Tensor& grad, const at::Tensor& weights,
      const at::Tensor& query, const at::Tensor& key, int64_t kernel_size) {
    detail::check_4d("similarity_softmax_backward", "grad", grad);
    detail::check_same_shape("similarity_softmax_backward", "grad", grad,
                             weights.sizes());
    const auto weights_cl = detail::channels_last(weights);
    auto grad_similarity = at::empty_like(weights_cl);
    Backend::softmax_taps_backward(detail::channels_last(grad), weights_cl,
                                   grad_similarity);
    return similarity_backward(grad_similarity, query, key, kernel_size);
  }

  static at::Tensor aggregate(const at::Tensor& weights,
                              const at::Tensor& value, int64_t kernel_size) {
    const auto g = detail::geometry("aggregate", "weights", weights, "value",
                                    value, kernel_size);
    TORCH_CHECK(weights.size(1) == g.taps(), "aggregate: weights ",
                weights.sizes(), " must have kernel_size**2 = ", g.taps(),
                " channels");
    const auto v = feature(value);
    auto out = v.new_empty({value.size(0), value.size(1), g.H, g.W});
    Backend::window_sum(detail::channels_last(weights), v, out, g);
    return result(out, value);
  }

  static std::tuple<at::Tensor, at::Tensor> aggregate_backward(
      const at::Tensor& grad, const at::Tensor& weights,
      const at::Tensor& value, int64_t kernel_size) {
    const auto g = detail::geometry("aggregate_backward", "weights", weights,
                                    "value", value, kernel_size);
    detail::check_4d("aggregate_backward", "grad", grad);
    detail::check_same_shape("aggregate_backward", "grad", grad,
                             {value.size(0), value.size(1), g.H, g.W});
    const auto weights_cl = detail::channels_last(weights);
    const auto v = feature(value), dout = feature(grad);
    auto grad_weights = at::empty_like(weights_cl);
    auto grad_value = v.new_empty(value.sizes());
    Backend::window_dot(dout, v, grad_weights, g);
    Backend::window_gather(weights_cl, dout, grad_value, g);
    return {grad_weights, result(grad_value, value)};
  }

 private:
  static Feature feature(const at::Tensor& t) {
    return detail::feature(t, Backend::kPlanar);
  }
  // A backend that computes channels-last returns results in the layout of
  // the corresponding input all the same.
  static at::Tensor result(const Feature& f, const at::Tensor& like) {
    if (Backend::kPlanar) return f.tensor;
    return f.tensor.contiguous(like.suggest_memory_format());
  }
};

// Registers SapaOps<Backend> as the kernels of the sapa_mm ops for one
// dispatch key; the dispatcher then picks the backend from the inputs' device.
#define SAPA_MM_REGISTER_BACKEND(dispatch_key, Backend)                    \
  TORCH_LIBRARY_IMPL(sapa_mm, dispatch_key, m) {                           \
    m.impl("similarity", &::sapa_mm::SapaOps<Backend>::similarity);        \
    m.impl("similarity_backward",                                          \
           &::sapa_mm::SapaOps<Backend>::similarity_backward);             \
    m.impl("similarity_softmax",                                           \
           &::sapa_mm::SapaOps<Backend>::similarity_softmax);              \
    m.impl("similarity_softmax_backward",                                  \
           &::sapa_mm::SapaOps<Backend>::similarity_softmax_backward);     \
    m.impl("aggregate", &::sapa_mm::SapaOps<Backend>::aggregate);          \
    m.impl("aggregate_backward",                                           \
           &::sapa_mm::SapaOps<Backend>::aggregate_backward);              \
  }

}  // namespace sapa_mm
