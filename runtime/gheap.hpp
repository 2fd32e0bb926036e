// gheap.hpp: where Gs live (gheap.cpp).
//
// Gs are carved, one after another, from 2 MiB chunks of anonymous memory,
// never freed during a run (a dead G goes to a free list, proc.cpp). From
// the second chunk on, a chunk asks for transparent huge pages
// (madvise(MADV_HUGEPAGE)): a million Gs (parked fibers, or spawns queued
// from a thread outside the runtime) are 300 MB, which 4 KiB pages put far
// past the TLB's reach. The first chunk stays in small pages, so that a
// program with a few thousand fibers does not pay a 2 MiB page for them.
#pragma once

#include <cstddef>
#include <vector>

namespace gort::rt {

struct G;

struct GHeap {
  std::vector<void*> chunks;  // each kGChunk bytes
  char* cur = nullptr;        // the next free byte of the last chunk
  char* end = nullptr;
};

// galloc constructs a new G in h. The caller serializes (sched.mu).
G* galloc(GHeap* h);

// gheap_release unmaps h's chunks, once every G in them was destroyed; with
// keep (some fiber was abandoned alive, its G still in use), it leaves them
// mapped for the life of the process, as LeakSanitizer roots.
void gheap_release(GHeap* h, bool keep);

}  // namespace gort::rt
