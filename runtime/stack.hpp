// stack.hpp: fiber stacks: mmap'd, guarded, pooled, committed lazily.
//
// Layout of one stack (addresses grow upwards; the stack grows downwards):
//
//     base            lo                                   hi = lo + size
//     | guard (64 KiB) | usable stack ...   <- grows down   |
//
// The guard region faults on any access, so an overflow lands there (a fatal
// "stack overflow in fiber N", panic.cpp) instead of in a neighbour's memory.
// It is installed with madvise(MADV_GUARD_INSTALL) where the kernel has it
// (Linux 6.13+; no extra VMA, no memory), else mprotect(PROT_NONE), which
// splits the mapping: two VMAs per stack, so vm.max_map_count (65530 by
// default) caps mprotect-guarded stacks near 32k. gort stops short of the
// cap, keeping an eighth of it for malloc, threads and sanitizers, and throws
// a std::system_error that names the sysctl.
//
// Stacks are never unmapped: a stack freed by a dead fiber goes back to the
// pool of its size and the next spawn reuses it (an mmap plus a guard costs
// ~15 us; reuse costs a pointer pop). Pages are committed by the kernel on
// first touch (MAP_NORESERVE), so a fiber that touches 3 KiB of stack costs
// one 4 KiB page of RSS however large its stack is.
#pragma once

#include <cstddef>

namespace gort::rt {

struct Stack {
  void* lo = nullptr;    // lowest usable address (just above the guard)
  std::size_t size = 0;  // usable bytes
  explicit operator bool() const { return lo != nullptr; }
  void* hi() const { return static_cast<char*>(lo) + size; }
};

inline constexpr std::size_t kGuardSize = 64 * 1024;

// stack_lazy_ok tells whether stacks may be bound when a fiber first runs
// rather than when it is spawned: true when guards cost no VMA (madvise), so
// mapping cannot fail short of address space. With mprotect guards it is
// false, and go() binds the stack itself, so that running into
// vm.max_map_count is an exception from go(), not a fatal error later.
// $GORT_STACK_GUARD=mprotect forces the fallback (to test it on new kernels).
// Known once the first stack was mapped (run.cpp maps one at start).
bool stack_lazy_ok();

// stack_configure reads $GORT_STACK_GUARD; run.cpp calls it at every start.
void stack_configure();

// stack_alloc returns a stack of at least `size` bytes (rounded up to pages),
// from the pool if one is free. Throws std::system_error if none can be mapped.
Stack stack_alloc(std::size_t size);

// stack_free returns a stack to the pool.
void stack_free(Stack s);

// stack_in_guard tells whether addr lies in the guard region below s.
bool stack_in_guard(const Stack& s, const void* addr);

// stacks_mapped counts stacks mapped so far (in use or pooled).
std::size_t stacks_mapped();

// stack_round rounds a requested size up to whole pages, minimum 16 KiB.
std::size_t stack_round(std::size_t size);

}  // namespace gort::rt
