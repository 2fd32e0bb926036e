// panic.cpp: panics, fatal errors, and the stack-overflow handler (panic.hpp).
#include "panic.hpp"

#include "g.hpp"
#include "m.hpp"
#include "trace.hpp"

#include <cxxabi.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <typeinfo>
#include <utility>

namespace gort::rt {

namespace {

std::string demangle(const char* name) {
  int status = 0;
  char* s = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && s ? s : name;
  std::free(s);
  return out;
}

}  // namespace

void die(const std::string& msg) {
  std::fflush(stdout);
  std::fflush(stderr);
  const char* p = msg.data();
  std::size_t left = msg.size();
  while (left > 0) {
    ssize_t n = write(2, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  trace_dying();  // a trace running: write it, after the message
  _exit(2);
}

namespace {

struct sigaction old_segv, old_bus;

// write_str is async-signal-safe output.
void write_str(const char* s) {
  ssize_t r = write(2, s, std::strlen(s));
  (void)r;
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  // getm() reads a thread_local: fine here, the handler runs on the faulting thread.
  M* m = getm();
  G* gp = m ? m->curg.load(std::memory_order_relaxed) : nullptr;
  if (gp && stack_in_guard(gp->stack, info->si_addr)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "fatal error: stack overflow in fiber %llu\n",
                  static_cast<unsigned long long>(gp->goid));
    write_str(buf);
    _exit(2);
  }
  // Not ours: hand the fault to whoever handled it before (e.g. a sanitizer),
  // or let it kill the process as it would have without gort.
  struct sigaction* old = sig == SIGBUS ? &old_bus : &old_segv;
  if (old->sa_flags & SA_SIGINFO) {
    if (old->sa_sigaction) return old->sa_sigaction(sig, info, uctx);
  } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    return old->sa_handler(sig);
  }
  signal(sig, SIG_DFL);  // returning re-runs the faulting access, which now kills us
}

}  // namespace

void fatal_panic(std::uint64_t goid, std::exception_ptr e) {
  std::string type = "unknown exception", what;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    type = demangle(typeid(ex).name());
    what = ex.what();
  } catch (...) {
    if (auto* t = abi::__cxa_current_exception_type()) type = demangle(t->name());
  }
  std::string msg = "panic: " + type + (what.empty() ? "" : ": " + what) + "\n\nfiber " +
                    std::to_string(goid) + " [running]\n";
  die(msg);
}

void fatal_error(const char* msg) { die(std::string("fatal error: ") + msg + "\n"); }

void signals_init() {
  // Installed at every gort::run, not once: another library (a test
  // framework, say) may have put its own handler back in between. Whatever
  // handler we replace is the one we pass foreign faults to.
  static std::mutex mu;
  std::lock_guard lk(mu);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (auto [sig, old] : {std::pair{SIGSEGV, &old_segv}, std::pair{SIGBUS, &old_bus}}) {
    struct sigaction cur;
    sigaction(sig, nullptr, &cur);
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fault) continue;
    sigaction(sig, &sa, old);
  }
}

// 64 KiB: the handler is small, but sanitizer runtimes run on it too.
constexpr std::size_t kAltStackSize = 64 * 1024;

void* sigaltstack_init() {
  void* mem = mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;  // no alternate stack: overflows become plain SIGSEGV
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = kAltStackSize;
  sigaltstack(&ss, nullptr);
  return mem;
}

void sigaltstack_fini(void* stack) {
  if (!stack) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  munmap(stack, kAltStackSize);
}

}  // namespace gort::rt
