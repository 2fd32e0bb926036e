// gort/debug.hpp: Go's fiber dump, callable from code.
//
// fiber_dump() lists every fiber of the running gort::run, as Go's SIGQUIT
// traceback lists goroutines (without the stacks):
//
//   fiber 1 [WaitGroup.wait, 3.2 s]:
//   fiber 17 [chan receive, 0.4 s]:
//   fiber 18 [runnable]:
//   fiber 19 [running]:
//
// The runtime prints the same dump, then exits with status 2:
//  - on SIGQUIT (Ctrl-\), as Go does;
//  - with "fatal error: all fibers are asleep - deadlock!" when no fiber can
//    ever run again: every fiber parked, no timer pending, nothing runnable,
//    and nothing changed for about a second (the supervisor checks twice a
//    second). A fiber woken only by a thread outside the runtime looks dead
//    to this check if that thread takes longer than that; keep a timer
//    pending (a sleeping fiber) while waiting on such threads, or set
//    GORT_DEADLOCK_CHECK=0.
#pragma once

#include <string>

namespace gort {

std::string fiber_dump();

}  // namespace gort
