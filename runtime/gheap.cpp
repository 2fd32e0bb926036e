// gheap.cpp: the memory of Gs (see gheap.hpp).
#include "gheap.hpp"

#include "g.hpp"
#include "lsan.hpp"
#include "panic.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace gort::rt {

namespace {

constexpr std::size_t kGChunk = std::size_t(2) << 20;  // one huge page on x86-64 and arm64
constexpr std::size_t kGStride = (sizeof(G) + alignof(G) - 1) / alignof(G) * alignof(G);

// map_chunk maps kGChunk bytes aligned to kGChunk (a huge page must be
// aligned): twice the size, then the unaligned ends unmapped.
void* map_chunk() {
  void* m = ::mmap(nullptr, 2 * kGChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (m == MAP_FAILED) fatal_error("out of memory: cannot map memory for fibers (G structures)");
  auto lo = reinterpret_cast<std::uintptr_t>(m);
  auto at = (lo + kGChunk - 1) & ~(kGChunk - 1);
  if (at > lo) ::munmap(m, at - lo);
  if (std::size_t tail = lo + 2 * kGChunk - (at + kGChunk))
    ::munmap(reinterpret_cast<void*>(at + kGChunk), tail);
  return reinterpret_cast<void*>(at);
}

}  // namespace

G* galloc(GHeap* h) {
  if (static_cast<std::size_t>(h->end - h->cur) < kGStride) {
    void* c = map_chunk();
    if (!h->chunks.empty()) ::madvise(c, kGChunk, MADV_HUGEPAGE);  // a hint: fine if THP is off
    h->chunks.push_back(c);
    h->cur = static_cast<char*>(c);
    h->end = h->cur + kGChunk;
  }
  G* gp = new (h->cur) G;
  h->cur += kGStride;
  return gp;
}

void gheap_release(GHeap* h, bool keep) {
  for (void* c : h->chunks) {
    if (keep)
      lsan_root(c, kGChunk);  // the abandoned Gs' closures point into the heap
    else
      ::munmap(c, kGChunk);
  }
  h->chunks.clear();
  h->cur = h->end = nullptr;
}

}  // namespace gort::rt
