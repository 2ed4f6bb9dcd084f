// The SAPA operators, composed from five device primitives.
//
// Every tensor is a logical (B, C, H, W) tensor, as in PyTorch:
//   similarity(query (B,D,H,W), key (B,D,h,w))          -> (B,K*K,H,W)
//   aggregate(weights (B,K*K,H,W), value (B,C,h,w))      -> (B,C,H,W)
// and similarity_softmax, the softmax over the taps of similarity (SAPA's
// weights), with their backward passes, which compute only the gradients
// their output_mask asks for. The K*K-channel tensors (similarities, weights
// and their gradients) are small and always channels-last. The feature
// tensors (query, key, value, the output and its gradient) may be planar
// (NCHW-contiguous) or channels-last; each result takes the layout of the
// input it corresponds to (the output that of value), so a model in either
// memory format never pays for a full-size layout copy. A backend (CPU,
// CUDA) implements:
//   window_dot(a (B,C,H,W), b (B,C,h,w)):
//       out[p,k] = <a[p], b[tap(p,k)]>
//   window_dot_softmax(a, b): the same, softmaxed over k
//   window_sum(t (B,K*K,H,W), b (B,C,h,w)):
//       out[p] = sum_k t[p,k] b[tap(p,k)]
//   softmax_backward(grad, w (B,K*K,H,W), b):
//       gs[p,k] = w[p,k] (grad[p,k] - sum_k' grad[p,k'] w[p,k']), the
//       softmax's backward, and out = window_sum(gs, b), each optional
//   window_gather(t (B,K*K,H,W), a (B,C,H,W)):
//       out[q] = sum_{tap(p,k)=q} t[p,k] a[p]
// window_gather is the transpose of window_sum written as a gather over the
// output points whose windows cover q, so backward needs no atomics and is
// deterministic on every device.
#pragma once

#include <array>
#include <optional>
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

// t as a feature in its own layout: channels-last where its strides say so,
// else planar.
inline Feature feature(const at::Tensor& t) {
  const bool channels_last =
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

// Backend must provide, with K*K-channel tensors channels-last and outputs
// preallocated and fully overwritten,
//   window_dot(const Feature& a, const Feature& b, at::Tensor& out, g)
//   window_dot_softmax(const Feature& a, const Feature& b, at::Tensor& out, g)
//   window_sum(const at::Tensor& t, const Feature& b, Feature& out, g)
//   softmax_backward(const at::Tensor& grad, const at::Tensor& w,
//                    at::Tensor* gs, const Feature& b, Feature* out, g)
//       (gs and out may be null: not wanted)
//   window_gather(const at::Tensor& t, const Feature& a, Feature& out, g)
template <typename Backend>
struct SapaOps {
  using Mask = std::array<bool, 2>;

  static at::Tensor similarity(const at::Tensor& query, const at::Tensor& key,
                               int64_t kernel_size) {
    return similarity_impl("similarity", query, key, kernel_size, false);
  }

  static std::tuple<at::Tensor, at::Tensor> similarity_backward(
      const at::Tensor& grad, const at::Tensor& query, const at::Tensor& key,
      int64_t kernel_size, Mask output_mask) {
    const auto g = detail::geometry("similarity_backward", "query", query,
                                    "key", key, kernel_size);
    detail::check_4d("similarity_backward", "grad", grad);
    detail::check_same_shape("similarity_backward", "grad", grad,
                             {query.size(0), g.taps(), g.H, g.W});
    const auto grad_cl = detail::channels_last(grad);
    const auto q = detail::feature(query), k = detail::feature(key);
    at::Tensor grad_query, grad_key;
    if (output_mask[0]) {
      auto out = q.new_empty(query.sizes());
      Backend::window_sum(grad_cl, k, out, g);
      grad_query = out.tensor;
    }
    if (output_mask[1]) grad_key = gather(grad_cl, q, k, g);
    return {grad_query, grad_key};
  }

  // softmax over the taps of similarity(query, key): SAPA's weights.
  static at::Tensor similarity_softmax(const at::Tensor& query,
                                       const at::Tensor& key,
                                       int64_t kernel_size) {
    return similarity_impl("similarity_softmax", query, key, kernel_size,
                           true);
  }

  static std::tuple<at::Tensor, at::Tensor> similarity_softmax_backward(
      const at::Tensor& grad, const at::Tensor& weights,
      const at::Tensor& query, const at::Tensor& key, int64_t kernel_size,
      Mask output_mask) {
    constexpr const char* op = "similarity_softmax_backward";
    const auto g = detail::geometry(op, "query", query, "key", key,
                                    kernel_size);
    detail::check_4d(op, "grad", grad);
    detail::check_same_shape(op, "grad", grad,
                             {query.size(0), g.taps(), g.H, g.W});
    detail::check_same_shape(op, "weights", weights, grad.sizes());
    const auto weights_cl = detail::channels_last(weights);
    const auto q = detail::feature(query), k = detail::feature(key);
    // The softmax's backward, the query's gradient from it in the same
    // pass, and the key's gradient as a gather over it.
    at::Tensor grad_similarity, grad_key;
    std::optional<Feature> grad_query;
    if (output_mask[0]) grad_query = q.new_empty(query.sizes());
    if (output_mask[1]) grad_similarity = at::empty_like(weights_cl);
    if (output_mask[0] || output_mask[1]) {
      Backend::softmax_backward(
          detail::channels_last(grad), weights_cl,
          output_mask[1] ? &grad_similarity : nullptr, k,
          grad_query ? &*grad_query : nullptr, g);
    }
    if (output_mask[1]) grad_key = gather(grad_similarity, q, k, g);
    return {grad_query ? grad_query->tensor : at::Tensor(), grad_key};
  }

  static at::Tensor aggregate(const at::Tensor& weights,
                              const at::Tensor& value, int64_t kernel_size) {
    const auto g = detail::geometry("aggregate", "weights", weights, "value",
                                    value, kernel_size);
    TORCH_CHECK(weights.size(1) == g.taps(), "aggregate: weights ",
                weights.sizes(), " must have kernel_size**2 = ", g.taps(),
                " channels");
    const auto v = detail::feature(value);
    auto out = v.new_empty({value.size(0), value.size(1), g.H, g.W});
    Backend::window_sum(detail::channels_last(weights), v, out, g);
    return out.tensor;
  }

  static std::tuple<at::Tensor, at::Tensor> aggregate_backward(
      const at::Tensor& grad, const at::Tensor& weights,
      const at::Tensor& value, int64_t kernel_size, Mask output_mask) {
    const auto g = detail::geometry("aggregate_backward", "weights", weights,
                                    "value", value, kernel_size);
    detail::check_4d("aggregate_backward", "grad", grad);
    detail::check_same_shape("aggregate_backward", "grad", grad,
                             {value.size(0), value.size(1), g.H, g.W});
    const auto weights_cl = detail::channels_last(weights);
    const auto v = detail::feature(value), dout = detail::feature(grad);
    at::Tensor grad_weights, grad_value;
    if (output_mask[0]) {
      grad_weights = at::empty_like(weights_cl);
      Backend::window_dot(dout, v, grad_weights, g);
    }
    if (output_mask[1]) grad_value = gather(weights_cl, dout, v, g);
    return {grad_weights, grad_value};
  }

 private:
  static at::Tensor similarity_impl(const char* op, const at::Tensor& query,
                                    const at::Tensor& key,
                                    int64_t kernel_size, bool softmax) {
    const auto g = detail::geometry(op, "query", query, "key", key,
                                    kernel_size);
    TORCH_CHECK(query.size(1) == key.size(1), op,
                ": query and key channels differ, query ", query.sizes(),
                " vs key ", key.sizes());
    auto out = at::empty({query.size(0), g.taps(), g.H, g.W},
                         query.options().memory_format(
                             at::MemoryFormat::ChannelsLast));
    const auto q = detail::feature(query), k = detail::feature(key);
    if (softmax) {
      Backend::window_dot_softmax(q, k, out, g);
    } else {
      Backend::window_dot(q, k, out, g);
    }
    return out;
  }

  // window_gather(t, a) into a new tensor shaped and laid out as low.
  static at::Tensor gather(const at::Tensor& t, const Feature& a,
                           const Feature& low, const WindowGeometry& g) {
    auto out = low.new_empty({a.tensor.size(0), a.tensor.size(1), g.h, g.w});
    Backend::window_gather(t, a, out, g);
    return out.tensor;
  }
};

// Registers SapaOps<Backend> as the kernels of the window ops of library
// `ns` for one dispatch key; the dispatcher then picks the backend from the
// inputs' device.
#define SAPA_MM_REGISTER_BACKEND(ns, dispatch_key, Backend)                \
  TORCH_LIBRARY_IMPL(ns, dispatch_key, m) {                                \
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
