// gort/fiber.hpp: what the running fiber can do to itself.
//
// Each call here parks or reschedules only the calling fiber, never its OS
// thread. Called outside a fiber (no gort::run on this thread, or on a thread
// the runtime does not own) they throw std::logic_error, except fiber_id(),
// which returns 0 there.
//
// Fibers migrate between OS threads: after yield() or sleep_for() the fiber
// may continue on another thread, so a `thread_local` read before the call and
// one read after may be different variables. Do not keep pointers or
// references to thread_local objects across a call that may park.
#pragma once

#include <chrono>
#include <cstdint>

namespace gort {

// yield gives the processor to other runnable fibers; the caller goes to the
// back of its P's run queue and continues later (Go's runtime.Gosched).
void yield();

// sleep_until parks the calling fiber until the monotonic clock reaches t. It
// never returns early; a time in the past returns at once.
void sleep_until(std::chrono::steady_clock::time_point t);

// sleep_for parks the calling fiber for at least d (Go's time.Sleep).
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return sleep_until(std::chrono::steady_clock::time_point{});
  sleep_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
}

// fiber_id is the calling fiber's id: unique for the life of the process,
// starting at 1 for the first fiber of the first gort::run. 0 outside a fiber.
std::uint64_t fiber_id();

}  // namespace gort
