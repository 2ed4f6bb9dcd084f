// The grid launcher, fibers and checks of the CUDA emulation (see
// host_runtime.h).
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include "host_executor.h"

namespace sapa_mm {
namespace cuda {
namespace emulation {
namespace {

constexpr int32_t kManyReaders = -2;
// Kernel code and the checks' message formatting run on these stacks; a
// guard page below each turns an overflow into a fault.
constexpr size_t kFiberStack = 256 * 1024;

// Message pieces concatenated, for the failure paths only.
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// What the emulated threads of one block failed with.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BlockRunner;

// The block and thread running kernel code on this host thread.
struct Context {
  BlockRunner* runner = nullptr;
  int64_t block = 0;
  int thread = 0;
  int64_t epoch = 0;
};
thread_local Context* current = nullptr;

std::atomic<int64_t> grid_cap{0};

Context& context() {
  TORCH_CHECK(current != nullptr,
              "sapa_mm CUDA emulation: kernel code called outside a launch");
  return *current;
}

std::string where(const Context& c) {
  return concat("block ", c.block, ", thread ", c.thread);
}

// Runs the blocks of one launch, one after another, on the calling host
// thread; threads of a kernel that syncs run as fibers.
class BlockRunner {
 public:
  explicit BlockRunner(const KernelLaunch& launch)
      : launch_(launch), n_(launch.threads) {
    if (launch_.syncs) {
      fibers_.resize(n_);
      state_.resize(n_);
      for (auto& fiber : fibers_) {
        void* memory = mmap(nullptr, kFiberStack, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        TORCH_CHECK(memory != MAP_FAILED,
                    "sapa_mm CUDA emulation: cannot map a fiber stack");
        mprotect(memory, 4096, PROT_NONE);  // the guard page
        fiber.stack = memory;
      }
    }
  }
  ~BlockRunner() {
    for (auto& fiber : fibers_) munmap(fiber.stack, kFiberStack);
  }
  BlockRunner(const BlockRunner&) = delete;
  BlockRunner& operator=(const BlockRunner&) = delete;

  void run(int64_t block, int64_t blocks) {
    context_ = Context{this, block, 0, 0};
    Context* previous = current;
    current = &context_;
    shared_ = launch_.new_shared();
    try {
      if (launch_.syncs) {
        run_fibers(block, blocks);
      } else {
        for (int t = 0; t < n_; ++t) {
          context_.thread = t;
          launch_.run(launch_.kernel, Thread{block, blocks, t, n_}, shared_);
        }
      }
    } catch (...) {
      launch_.delete_shared(shared_);
      current = previous;
      throw;
    }
    launch_.delete_shared(shared_);
    current = previous;
  }

  // sync() of the current thread.
  void barrier() {
    if (!launch_.syncs) {
      fail(std::string("calls sync() but its kSyncs is false"));
    }
    const int t = context_.thread;
    state_[t] = kAtBarrier;
    swapcontext(&fibers_[t].context, &scheduler_);
  }

  [[noreturn]] void fail(const std::string& what) {
    std::string message = where(context_) + ": " + what;
    if (!launch_.syncs) throw Failure(message);
    if (failure_.empty()) failure_ = message;
    const int t = context_.thread;
    state_[t] = kFailed;
    swapcontext(&fibers_[t].context, &scheduler_);
    std::abort();  // a failed fiber is never resumed
  }

 private:
  enum State { kReady, kAtBarrier, kDone, kFailed };
  struct Fiber {
    void* stack = nullptr;
    ucontext_t context;
  };

  static void trampoline() {
    BlockRunner* self = current->runner;
    const int t = self->context_.thread;
    self->launch_.run(self->launch_.kernel,
                      Thread{self->context_.block, self->blocks_, t, self->n_},
                      self->shared_);
    self->state_[t] = kDone;  // uc_link returns to the scheduler
  }

  void run_fibers(int64_t block, int64_t blocks) {
    blocks_ = blocks;
    failure_.clear();
    for (int t = 0; t < n_; ++t) {
      Fiber& fiber = fibers_[t];
      getcontext(&fiber.context);
      fiber.context.uc_stack.ss_sp = static_cast<char*>(fiber.stack) + 4096;
      fiber.context.uc_stack.ss_size = kFiberStack - 4096;
      fiber.context.uc_link = &scheduler_;
      makecontext(&fiber.context, &BlockRunner::trampoline, 0);
      state_[t] = kReady;
    }
    for (;;) {
      const bool reverse = context_.epoch % 2 == 1;
      for (int n = 0; n < n_; ++n) {
        const int t = reverse ? n_ - 1 - n : n;
        if (state_[t] != kReady) continue;
        context_.thread = t;
        swapcontext(&scheduler_, &fibers_[t].context);
        if (!failure_.empty()) throw Failure(failure_);
      }
      const auto waiting = std::count(state_.begin(), state_.end(),
                                      kAtBarrier);
      if (waiting == 0) return;  // every thread returned
      if (waiting < n_) {
        throw Failure(concat("block ", block, ": barrier divergence, ",
                             waiting, " of ", n_,
                             " threads wait at sync() (barrier ",
                             context_.epoch,
                             ") while the others have returned"));
      }
      ++context_.epoch;
      std::fill(state_.begin(), state_.end(), kReady);
    }
  }

  const KernelLaunch& launch_;
  const int n_;
  int64_t blocks_ = 0;
  Context context_;
  void* shared_ = nullptr;
  std::vector<Fiber> fibers_;
  std::vector<State> state_;
  ucontext_t scheduler_;
  std::string failure_;
};

}  // namespace

void set_max_blocks(int64_t blocks) {
  TORCH_CHECK(blocks >= 0, "set_emulation_max_blocks: blocks must be >= 0, "
              "got ", blocks);
  grid_cap = blocks;
}

int64_t max_blocks() { return grid_cap; }

void fail(const std::string& what) { context().runner->fail(what); }

void barrier() { context().runner->barrier(); }

int current_thread() { return context().thread; }

int64_t current_epoch() { return context().epoch; }

void check_shared_access(SharedShadow& s, int64_t index, int64_t size,
                         bool write) {
  const Context& c = context();
  if (index < 0 || index >= size) {
    fail(concat("shared-memory ", write ? "write" : "read", " at index ",
                index, ", outside [0, ", size, ")"));
  }
  const int32_t t = c.thread;
  const bool written_now = s.write_epoch == c.epoch && s.writer != t;
  if (write) {
    if (written_now) {
      fail(concat("shared-memory race: writes element ", index,
                  ", which thread ", s.writer,
                  " wrote since the last barrier"));
    }
    if (s.read_epoch == c.epoch && s.reader != t) {
      fail(concat("shared-memory race: writes element ", index, ", which ",
                  s.reader == kManyReaders
                      ? std::string("other threads")
                      : concat("thread ", s.reader),
                  " read since the last barrier"));
    }
    s.writer = t;
    s.write_epoch = c.epoch;
    return;
  }
  if (s.write_epoch < 0) {
    fail(concat("reads shared-memory element ", index,
                ", which no thread of this block has written"));
  }
  if (written_now) {
    fail(concat("shared-memory race: reads element ", index,
                ", which thread ", s.writer, " wrote since the last barrier"));
  }
  if (s.read_epoch != c.epoch) {
    s.reader = t;
    s.read_epoch = c.epoch;
  } else if (s.reader != t) {
    s.reader = kManyReaders;
  }
}

WriteLog::WriteLog(const char* name, int64_t size)
    : name_(name), size_(size), counts_(new std::atomic<uint8_t>[size]) {
  for (int64_t i = 0; i < size; ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
}

void WriteLog::record(int64_t index) {
  if (counts_[index].exchange(1, std::memory_order_relaxed) != 0) {
    fail(concat("writes ", name_, "[", index,
                "], which another thread (or this one) already wrote in this "
                "launch"));
  }
}

std::string WriteLog::unwritten() const {
  int64_t missing = 0, first = -1;
  for (int64_t i = 0; i < size_; ++i) {
    if (counts_[i].load(std::memory_order_relaxed) == 0) {
      if (first < 0) first = i;
      ++missing;
    }
  }
  if (missing == 0) return "";
  return concat(missing, " of ", size_, " elements of ", name_,
                " were left unwritten, the first at index ", first);
}

void fail_global_access(const char* name, int64_t index, int64_t count,
                        int64_t begin, int64_t end, bool write) {
  fail(concat("global ", write ? "store to " : "load from ", name, "[", index,
              "]",
              count > 1 ? concat(" (vector of ", count, ")") : std::string(),
              " outside its valid range [", begin, ", ", end, ")"));
}

void fail_alignment(const char* name, const void* address, int64_t bytes) {
  fail(concat("vector access of ", bytes, " bytes to ", name, " at ", address,
              ", which is not ", bytes, "-byte aligned"));
}

void run_grid(const KernelLaunch& launch, int64_t blocks) {
  TORCH_CHECK(launch.threads > 0 && launch.threads % 32 == 0,
              "sapa_mm CUDA emulation: ", launch.name,
              " has a block size that is not a whole number of warps: ",
              launch.threads);
  std::atomic<bool> failed{false};
  try {
    at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
      BlockRunner runner(launch);
      for (int64_t block = begin; block < end && !failed; ++block) {
        try {
          runner.run(block, blocks);
        } catch (...) {
          failed = true;
          throw;
        }
      }
    });
  } catch (const Failure& failure) {
    TORCH_CHECK(false, "sapa_mm CUDA emulation: kernel ", launch.name,
                " failed in ", failure.what());
  }
}

}  // namespace emulation
}  // namespace cuda
}  // namespace sapa_mm
