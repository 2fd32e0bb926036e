// stack.cpp: the stack pool (see stack.hpp for the layout and the guard).
//
// Pool: one free list per stack size, all under pool_mu. The hot path rarely
// gets here: a fiber that ends gives its stack to its P's stackcache and the
// next fiber to start there takes it back (proc.cpp), so the pool is touched
// only when a P's cache runs dry or overflows, or for an unusual stack size. Stacks are mapped in chunks of
// several stacks to make fewer mmap calls; with MADV_GUARD_INSTALL a chunk stays one VMA.
#include "stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13 uapi
#endif

namespace gort::rt {

namespace {

std::mutex pool_mu;                               // protects pool and guard_mode
std::map<std::size_t, std::vector<Stack>>* pool;  // size -> free stacks; never freed
enum class Guard { Unknown, Madvise, Mprotect } guard_mode = Guard::Unknown;
std::atomic<std::size_t> n_mapped{0};
std::atomic<bool> lazy_ok{false};  // mirrors guard_mode == Madvise

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

[[noreturn]] void throw_map_error(const char* what, int err) {
  std::string msg = std::string("gort: cannot allocate a fiber stack: ") + what;
  if (err == ENOMEM) {
    long max = -1;
    std::ifstream("/proc/sys/vm/max_map_count") >> max;
    msg +=
        ": out of memory mappings or memory. Each fiber stack guarded with mprotect takes two memory "
        "mappings, and vm.max_map_count (now " +
        std::to_string(max) +
        ") caps them near half that many fibers; raise it, e.g. `sysctl -w vm.max_map_count=1048576`, "
        "or run fewer fibers at once (Linux 6.13+ guards stacks without extra mappings)";
  }
  throw std::system_error(err, std::generic_category(), msg);
}

// install_guard makes [addr, addr + kGuardSize) fault on access.
// Called with pool_mu held.
bool install_guard(void* addr) {
  if (guard_mode != Guard::Mprotect) {
    if (madvise(addr, kGuardSize, MADV_GUARD_INSTALL) == 0) {
      guard_mode = Guard::Madvise;
      lazy_ok.store(true, std::memory_order_relaxed);
      return true;
    }
    if (guard_mode == Guard::Madvise || (errno != EINVAL && errno != ENOSYS)) return false;
    guard_mode = Guard::Mprotect;  // older kernel: fall back for good
  }
  return mprotect(addr, kGuardSize, PROT_NONE) == 0;
}

// With mprotect guards every stack costs two VMAs. Rather than run the
// process into vm.max_map_count, where malloc, thread creation and sanitizer
// runtimes start failing at random places, gort stops mapping stacks while a
// reserve of mappings is left for everyone else, and says why.
std::size_t mprotect_stacks = 0;  // stacks guarded with mprotect (pool_mu)

std::size_t mprotect_stack_limit() {
  long max = 65530;
  std::ifstream("/proc/sys/vm/max_map_count") >> max;
  long reserve = std::max(4096L, max / 8);
  return max > reserve ? static_cast<std::size_t>((max - reserve) / 2) : 0;
}

// map_chunk maps up to `count` stacks of `size` usable bytes and adds all but
// one to the free list; returns that one. Called with pool_mu held.
Stack map_chunk(std::size_t size, std::size_t count) {
  const std::size_t stride = kGuardSize + size;
  if (guard_mode == Guard::Mprotect) {
    static const std::size_t limit = mprotect_stack_limit();
    if (mprotect_stacks >= limit) throw_map_error("guard page", ENOMEM);
    count = std::min(count, limit - mprotect_stacks);
  }
  void* mem = mmap(nullptr, stride * count, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw_map_error("mmap", errno);
  auto* base = static_cast<char*>(mem);
  std::size_t ok = 0;
  int err = 0;
  for (; ok < count; ok++) {
    if (!install_guard(base + ok * stride)) {
      err = errno;
      break;
    }
  }
  if (ok < count) munmap(base + ok * stride, (count - ok) * stride);  // keep the guarded ones
  if (ok == 0) throw_map_error("guard page", err);
  if (guard_mode == Guard::Mprotect) mprotect_stacks += ok;
  auto& free = (*pool)[size];
  for (std::size_t i = 1; i < ok; i++) free.push_back(Stack{base + i * stride + kGuardSize, size});
  n_mapped.fetch_add(ok, std::memory_order_relaxed);
  return Stack{base + kGuardSize, size};
}

}  // namespace

std::size_t stack_round(std::size_t size) {
  const std::size_t p = page_size();
  if (size < 16 * 1024) size = 16 * 1024;
  return (size + p - 1) / p * p;
}

Stack stack_alloc(std::size_t size) {
  size = stack_round(size);
  std::lock_guard lk(pool_mu);
  if (!pool) pool = new std::map<std::size_t, std::vector<Stack>>;
  auto& free = (*pool)[size];
  if (!free.empty()) {
    Stack s = free.back();
    free.pop_back();
    return s;
  }
  // Chunks of about 8 MiB of address space; at least one stack.
  std::size_t count = (8u << 20) / (size + kGuardSize);
  return map_chunk(size, count ? count : 1);
}

void stack_free(Stack s) {
  if (!s) return;
  std::lock_guard lk(pool_mu);
  (*pool)[s.size].push_back(s);
}

bool stack_in_guard(const Stack& s, const void* addr) {
  auto a = reinterpret_cast<std::uintptr_t>(addr);
  auto lo = reinterpret_cast<std::uintptr_t>(s.lo);
  return s.lo && a < lo && a >= lo - kGuardSize;
}

bool stack_lazy_ok() { return lazy_ok.load(std::memory_order_relaxed); }

void stack_configure() {
  std::lock_guard lk(pool_mu);
  const char* env = std::getenv("GORT_STACK_GUARD");
  if (env && std::string(env) == "mprotect") {
    guard_mode = Guard::Mprotect;
    lazy_ok.store(false, std::memory_order_relaxed);
  }
}

std::size_t stacks_mapped() { return n_mapped.load(std::memory_order_relaxed); }

}  // namespace gort::rt
