// context_boost.cpp: the Boost.Context backend of context.hpp. The only file
// in gort that includes Boost.Context, and the line where stacks switch:
// `jump_fcontext` in switch_to() below.
//
// We use Boost.Context's lowest layer (make_fcontext/jump_fcontext, ~7 ns a
// switch here) because the runtime owns stacks and scheduling itself; the
// higher-level boost::context::fiber would allocate and manage both.
//
// Every jump passes a Switch record: the context we leave and the one we
// enter. The side that arrives stores the leaver's new stack pointer into
// `from->sp`; only then may anyone resume `from`.
#include "context.hpp"

#include <boost/context/detail/fcontext.hpp>

#include <cstdlib>

// This file is compiled without sanitizer instrumentation (see
// runtime/CMakeLists.txt): TSan's fiber calls must come from code TSan does not
// instrument, or its shadow call stack underflows. The build says which
// sanitizers the rest of the program uses through GORT_WITH_ASAN/GORT_WITH_TSAN.
#if defined(GORT_WITH_ASAN)
#define GORT_ASAN 1
#endif
#if defined(GORT_WITH_TSAN)
#define GORT_TSAN 1
#endif

#if GORT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if GORT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

// The switching functions are never inlined into instrumented callers.
#define GORT_NO_SANITIZE __attribute__((noinline))

namespace gort::rt {

namespace fc = boost::context::detail;

namespace {

struct Switch {
  Context* from;
  Context* to;
};

// arrived runs first thing on the context we switched to: publish where the
// context we left is suspended, and finish the sanitizers' switch.
GORT_NO_SANITIZE void arrived(fc::transfer_t t) {
  auto* s = static_cast<Switch*>(t.data);
  if (s->from) s->from->sp = t.fctx;
#if GORT_ASAN
  const void* lo = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(s->to->asan_fake_stack, &lo, &size);
  if (s->from && !s->from->stack_lo) {  // first switch away from a thread stack: learn it
    s->from->stack_lo = const_cast<void*>(lo);
    s->from->stack_size = size;
  }
#endif
}

// before_jump tells the sanitizers that the thread is about to run `to`.
// `dying` means the current context will never be resumed.
GORT_NO_SANITIZE void before_jump(Context* from, Context* to, bool dying) {
#if GORT_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &from->asan_fake_stack, to->stack_lo, to->stack_size);
#else
  (void)from, (void)dying;
#endif
#if GORT_TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#else
  (void)to;
#endif
}

// trampoline is the bottom frame of every fiber made by ctx_make.
GORT_NO_SANITIZE void trampoline(fc::transfer_t t) {
  arrived(t);
  Context* self = static_cast<Switch*>(t.data)->to;
  self->entry(self->entry_arg);
  std::abort();  // entry must leave with ctx_exit, never return
}

GORT_NO_SANITIZE void switch_to(Context* from, Context* to, bool dying) {
  before_jump(from, to, dying);
  Switch s{dying ? nullptr : from, to};
  // The stack switch: this thread now runs `to`. When (if) we get here again
  // it is because some thread switched back to `from`.
  fc::transfer_t t = fc::jump_fcontext(to->sp, &s);
  arrived(t);
}

}  // namespace

void ctx_init_thread(Context* c) {
  *c = Context{};
#if GORT_TSAN
  c->tsan_fiber = __tsan_get_current_fiber();
#endif
}

void ctx_make(Context* c, void* lo, std::size_t size, void (*entry)(void*), void* arg) {
#if GORT_ASAN
  // A reused stack may still carry poison from the frames of its last fiber.
  ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
#if GORT_TSAN
  if (!c->tsan_fiber) c->tsan_fiber = __tsan_create_fiber(0);
#endif
  c->stack_lo = lo;
  c->stack_size = size;
  c->asan_fake_stack = nullptr;
  c->entry = entry;
  c->entry_arg = arg;
  c->sp = fc::make_fcontext(static_cast<char*>(lo) + size, size, trampoline);
}

void ctx_switch(Context* from, Context* to) { switch_to(from, to, false); }

void ctx_exit(Context* from, Context* to) {
  switch_to(from, to, true);
  std::abort();  // a dead context is never resumed
}

void ctx_release(Context* c) {
#if GORT_TSAN
  if (c->tsan_fiber) __tsan_destroy_fiber(c->tsan_fiber);
#endif
  c->tsan_fiber = nullptr;
}

}  // namespace gort::rt
