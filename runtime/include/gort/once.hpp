// gort/once.hpp: Go's sync.Once for fibers.
//
// once.run(f) calls f the first time it is called on `once`, and never again;
// every other call returns only once that first f has returned (or thrown),
// parking meanwhile (Go's once.Do). If f throws, the exception goes to the
// caller that ran it and the Once still counts as done, as in Go: later calls
// return without calling anything. Calling run on the same Once from inside
// f deadlocks, as in Go.
//
// Invariant: done_ becomes 1 only after f returned or threw, and while m_ is
// held; a caller that reads done_ == 1 (acquire) sees all that f did. m_ is
// taken only by callers that saw done_ == 0: the first one runs f under it,
// the others park on it until f is finished. Outside a fiber run() works
// unless it would have to wait for another caller's f (then it throws
// std::logic_error, as Mutex::lock).
#pragma once

#include <gort/mutex.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace gort {

class Once {
 public:
  Once() = default;
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;

  template <class F>
  void run(F&& f) {
    if (done_.load(std::memory_order_acquire) != 0) return;
    auto* fp = std::addressof(f);  // an object pointer even for a function
    run_slow(&call<F>, &fp);
  }

 private:
  // call invokes the F whose address is at *arg, as run's caller passed it.
  template <class F>
  static void call(void* arg) {
    std::forward<F> (**static_cast<std::remove_reference_t<F>**>(arg))();
  }

  void run_slow(void (*call)(void*), void* arg);

  std::atomic<std::uint32_t> done_{0};  // f has run: written under m_, read without it
  Mutex m_;                             // held while f runs
};

}  // namespace gort
