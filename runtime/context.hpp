// context.hpp: saved CPU state of a fiber or of an M's scheduler (g0), and the
// one operation that moves a thread from one to the other.
//
// This interface is all the runtime knows about stack switching; the only
// implementation, context_boost.cpp, is the one file that includes
// Boost.Context. It also carries the sanitizer bookkeeping, because ASan and
// TSan must be told about every switch, at the switch:
//   ASan: __sanitizer_start_switch_fiber before, __sanitizer_finish_switch_fiber after;
//   TSan: __tsan_switch_to_fiber before (from code TSan does not instrument).
//
// Invariants:
//  - A Context is either running (on exactly one thread) or suspended with a
//    valid `sp`; ctx_switch(from, to) suspends `from` and resumes `to`.
//  - A fiber's stack is only ever run by one thread at a time; the runtime
//    makes sure the fiber is fully suspended (its ctx_switch has stored `sp`)
//    before any other thread may resume it (see proc.cpp: park commits run on g0).
#pragma once

#include <cstddef>

namespace gort::rt {

struct Context {
  void* sp = nullptr;  // Boost.Context fcontext_t of the suspended context

  // Entry point, for a context made by ctx_make and not yet started.
  void (*entry)(void* arg) = nullptr;
  void* entry_arg = nullptr;

  // Sanitizer state. stack_lo/stack_size describe the stack this context runs
  // on (learned on the first switch away from it, for an M's thread stack).
  void* stack_lo = nullptr;
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;  // ASan's fake-stack handle while suspended
  void* tsan_fiber = nullptr;       // TSan's fiber handle
};

// ctx_init_thread makes `c` describe the calling thread's own stack: an M's g0.
void ctx_init_thread(Context* c);

// ctx_make prepares `c` to run entry(arg) on the stack [lo, lo + size) the
// first time it is switched to. The stack may have been used before.
void ctx_make(Context* c, void* lo, std::size_t size, void (*entry)(void*), void* arg);

// ctx_switch suspends the running context into `from` and resumes `to`. It
// returns when some thread switches back to `from`: possibly another thread.
void ctx_switch(Context* from, Context* to);

// ctx_exit resumes `to` and abandons the running context for good; its stack
// may be reused by ctx_make afterwards.
[[noreturn]] void ctx_exit(Context* from, Context* to);

// ctx_release frees the sanitizer state of a context made by ctx_make, once
// it has exited (TSan keeps a shadow stack and a trace per fiber: hundreds of
// KiB of address space each).
void ctx_release(Context* c);

}  // namespace gort::rt
