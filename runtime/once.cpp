// once.cpp: Once's slow path (see <gort/once.hpp>; Go's sync/once.go doSlow).
#include <gort/once.hpp>

#include <mutex>

namespace gort {

void Once::run_slow(void (*call)(void*), void* arg) {
  std::lock_guard lk(m_);
  if (done_.load(std::memory_order_relaxed) != 0) return;  // another caller ran f meanwhile
  // Mark done when f returns or throws, before m_ lets the waiters go.
  struct MarkDone {
    std::atomic<std::uint32_t>* done;
    ~MarkDone() { done->store(1, std::memory_order_release); }
  } mark{&done_};
  call(arg);
}

}  // namespace gort
