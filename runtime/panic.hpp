// panic.hpp: Go's fatal failure modes for fibers.
//
//  - An exception escaping a fiber is a panic: after its stack unwound (C++
//    destructors run, as Go's deferred calls do), the process prints
//        panic: <exception type>: <what()>
//
//        fiber <id> [running]
//    on stderr and exits with status 2, like an unrecovered Go panic.
//  - A stack overflow faults on the guard page below the fiber's stack. A
//    SIGSEGV handler, running on an alternate signal stack (the faulting
//    stack has no room left), prints
//        fatal error: stack overflow in fiber <id>
//    and exits 2. Other faults go to the handler that was there before.
//  - fatal_error: a broken runtime invariant: "fatal error: <msg>", exit 2.
#pragma once

#include <cstdint>
#include <exception>
#include <string>

namespace gort::rt {

[[noreturn]] void fatal_panic(std::uint64_t goid, std::exception_ptr e);
[[noreturn]] void fatal_error(const char* msg);

// die writes msg to stderr and exits 2 without running atexit handlers or
// static destructors (other Ms are still running fibers): how every fatal
// report of the runtime ends.
[[noreturn]] void die(const std::string& msg);

// signals_init installs the SIGSEGV/SIGBUS handler (at every gort::run).
void signals_init();
// sigaltstack_init gives the calling thread (an M) an alternate signal
// stack; sigaltstack_fini takes it back before the thread ends.
void* sigaltstack_init();
void sigaltstack_fini(void* stack);

}  // namespace gort::rt
