// Kernels with planted faults, for test_cuda_emulation.py: each is a bug the
// CUDA emulation must catch (and two are correct, to show that it passes
// correct code). Built at test time with torch.utils.cpp_extension.load.
#include <string>

#include <torch/extension.h>

#include "../../ops/emulation/host_executor.h"

namespace {

using sapa_mm::cuda::NoShared;
using sapa_mm::cuda::SharedArray;
using sapa_mm::cuda::Span;
using sapa_mm::cuda::Thread;
using sapa_mm::cuda::Vec;

// What every kernel here has: 64 threads a block, float in and out.
struct Copying {
  static constexpr int kThreads = 64;
  static constexpr int kMinBlocks = 1;
  Span<const float> in;
  Span<float> out;

  static int64_t index(const Thread& t) {
    return t.block() * kThreads + t.thread();
  }
};

// Each thread passes its value to its neighbour through shared memory:
// correct with the barrier, a race without it.
template <bool kBarrier>
struct Rotate : Copying {
  static constexpr bool kSyncs = true;
  struct Shared {
    SharedArray<float, kThreads> values;
  };
  void operator()(const Thread& t, Shared& s) const {
    const int64_t i = index(t);
    s.values.store(t.thread(), in.load(i));
    if (kBarrier) t.sync();
    out.store(i, s.values.load((t.thread() + 1) % kThreads));
  }
};

// Two rounds of Rotate with a barrier between them but none inside the
// second: a thread reads its neighbour's element before the neighbour
// overwrites it (a write-after-read race).
struct RaceInSecondRound : Copying {
  static constexpr bool kSyncs = true;
  struct Shared {
    SharedArray<float, kThreads> values;
  };
  void operator()(const Thread& t, Shared& s) const {
    const int64_t i = index(t);
    s.values.store(t.thread(), in.load(i));
    t.sync();
    const float neighbour = s.values.load((t.thread() + 1) % kThreads);
    t.sync();
    s.values.store(t.thread(), 2 * neighbour);
    out.store(i, s.values.load((t.thread() + 1) % kThreads));
  }
};

// Reads the shared element past the end.
struct SharedOutOfBounds : Copying {
  static constexpr bool kSyncs = true;
  struct Shared {
    SharedArray<float, kThreads> values;
  };
  void operator()(const Thread& t, Shared& s) const {
    const int64_t i = index(t);
    s.values.store(t.thread(), in.load(i));
    t.sync();
    out.store(i, s.values.load(t.thread() + 1));
  }
};

// Reads shared memory no thread wrote.
struct UninitialisedShared : Copying {
  static constexpr bool kSyncs = true;
  struct Shared {
    SharedArray<float, kThreads> values;
  };
  void operator()(const Thread& t, Shared& s) const {
    const int64_t i = index(t);
    t.sync();
    out.store(i, s.values.load(t.thread()) + in.load(i));
  }
};

// A barrier only half of the block reaches.
struct DivergentBarrier : Copying {
  static constexpr bool kSyncs = true;
  using Shared = NoShared;
  void operator()(const Thread& t, Shared&) const {
    const int64_t i = index(t);
    if (t.thread() < kThreads / 2) t.sync();
    out.store(i, in.load(i));
  }
};

// A kernel that says it needs no barrier, and synchronises.
struct UndeclaredBarrier : Copying {
  static constexpr bool kSyncs = false;
  using Shared = NoShared;
  void operator()(const Thread& t, Shared&) const {
    const int64_t i = index(t);
    t.sync();
    out.store(i, in.load(i));
  }
};

// A 16-byte vector load at an odd element.
struct MisalignedVector : Copying {
  static constexpr bool kSyncs = false;
  using Shared = NoShared;
  void operator()(const Thread& t, Shared&) const {
    const int64_t i = index(t);
    const Vec<float, 4> v = in.load_vec<4>(i % 2 == 0 ? 1 : 0);
    out.store(i, v.v[0]);
  }
};

// The last thread reads past the end of the input.
struct GlobalOutOfBounds : Copying {
  static constexpr bool kSyncs = false;
  using Shared = NoShared;
  void operator()(const Thread& t, Shared&) const {
    const int64_t i = index(t);
    out.store(i, in.load(i + 1));
  }
};

// Two threads write one element.
struct DoubleWrite : Copying {
  static constexpr bool kSyncs = false;
  using Shared = NoShared;
  void operator()(const Thread& t, Shared&) const {
    const int64_t i = index(t);
    out.store(i == 5 ? 4 : i, in.load(i));
  }
};

// Copies the first n elements, grid-stride: all of them, or, with n one
// short, leaves the last unwritten.
struct CopyPrefix : Copying {
  static constexpr bool kSyncs = false;
  using Shared = NoShared;
  int64_t n;

  void operator()(const Thread& t, Shared&) const {
    SAPA_FOR_EACH_ITEM(t, i, n) {
      out.store(i, in.load(i));
    }
  }
};

// in: a float32 tensor of a whole number of blocks; runs `name` on it.
torch::Tensor run(const std::string& name, const torch::Tensor& in,
                  int64_t blocks) {
  sapa_mm::cuda::emulation::HostExecutor ex;
  auto out = torch::empty_like(in);
  const auto i = ex.input<float>(in, "in");
  const auto o = ex.output<float>(out, "out");
  if (name == "rotate") {
    ex.launch(Rotate<true>{{i, o}}, blocks, "Rotate");
  } else if (name == "missing_barrier") {
    ex.launch(Rotate<false>{{i, o}}, blocks, "Rotate<no barrier>");
  } else if (name == "race_in_second_round") {
    ex.launch(RaceInSecondRound{{i, o}}, blocks, "RaceInSecondRound");
  } else if (name == "shared_out_of_bounds") {
    ex.launch(SharedOutOfBounds{{i, o}}, blocks, "SharedOutOfBounds");
  } else if (name == "uninitialised_shared") {
    ex.launch(UninitialisedShared{{i, o}}, blocks, "UninitialisedShared");
  } else if (name == "divergent_barrier") {
    ex.launch(DivergentBarrier{{i, o}}, blocks, "DivergentBarrier");
  } else if (name == "undeclared_barrier") {
    ex.launch(UndeclaredBarrier{{i, o}}, blocks, "UndeclaredBarrier");
  } else if (name == "misaligned_vector") {
    ex.launch(MisalignedVector{{i, o}}, blocks, "MisalignedVector");
  } else if (name == "global_out_of_bounds") {
    ex.launch(GlobalOutOfBounds{{i, o}}, blocks, "GlobalOutOfBounds");
  } else if (name == "double_write") {
    ex.launch(DoubleWrite{{i, o}}, blocks, "DoubleWrite");
  } else if (name == "unwritten") {
    ex.launch(CopyPrefix{{i, o}, in.numel() - 1}, blocks,
              "CopyPrefix<n - 1>");
  } else if (name == "copy") {
    ex.launch(CopyPrefix{{i, o}, in.numel()}, blocks, "CopyPrefix");
  } else {
    TORCH_CHECK(false, "unknown kernel ", name);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("run", &run, py::arg("name"), py::arg("input"), py::arg("blocks"));
}
