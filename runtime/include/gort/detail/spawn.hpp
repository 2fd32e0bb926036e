// gort/detail/spawn.hpp: the non-template half of gort::go (internal).
//
// go() is a template so that any callable can be spawned without a heap
// allocation. It talks to the runtime through these three calls (runtime/proc.cpp):
//   newproc_begin  takes a free G and reserves closure storage: inside the G
//                  if the closure fits, else at the top of a stack bound now;
//   newproc_commit records the entry point and makes the G runnable;
//   newproc_abort  gives the G back if constructing the closure threw.
#pragma once

#include <cstddef>

namespace gort::detail {

struct Spawn {
  void* g;        // the runtime's G (opaque here)
  void* closure;  // where the caller constructs its closure
};

Spawn newproc_begin(std::size_t stack_size, std::size_t closure_size, std::size_t closure_align);
void newproc_commit(Spawn s, void (*entry)(void* closure), const char* file, unsigned line);
void newproc_abort(Spawn s);

}  // namespace gort::detail
