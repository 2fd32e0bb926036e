// trace.cpp: the execution tracer's buffers and sessions (Go's traceBuf,
// StartTrace and StopTrace, trace.go). The event sites are trace.hpp's; the
// JSON is trace_json.cpp's.
//
// Buffers. One per P (by P id), and one global for records made with no P:
// sysmon, the blocking pool's threads, threads outside the runtime, an M
// between Ps or whose P sysmon took. A record goes to the buffer of the P
// that the emitting M holds (m->p, which only that M writes). Each buffer
// is a list of 64 KiB chunks (1170 records of 56 bytes), capped at
// trace_max_chunks chunks (256: 16 MiB, about 300,000 records per P). At
// the cap a record is dropped and counted; the count is the JSON's
// otherData.lost_events. Nothing ever blocks on a full buffer.
//
// Locks. Each buffer has a runtime lock (lock.hpp), a leaf: nothing is
// taken under it but malloc, for a new chunk. A P's lock is uncontended
// but for the moment sysmon hands the P to another M while the old one is
// still recording, and for the stop; the global one is shared by the rare
// P-less records. session_mu (a std::mutex) serializes start, stop and the
// dying write; under it only sched.mu (to list the Ms) and buffer locks are
// taken, so it sits above everything in the lock order, held by no M in the
// scheduler.
//
// Start and stop without stopping the world. trace_on is only a hint that
// spares the sites the call: the truth is each buffer's `active`, read
// under its lock. Stop clears trace_on, then takes each buffer's lock,
// clears `active` and takes its chunks: a record made before that is in
// the trace, one made after is refused, and none is half-written. Buffers
// are never freed (a site may hold one's address while a stop runs), only
// their chunks. A record that a slow site makes for a previous trace after
// the next one started has a time before the new trace's begin, and the
// writer drops it.
#include "trace.hpp"

#include <gort/trace.hpp>

#include "lock.hpp"
#include "sched.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace gort::rt {

std::atomic<bool> trace_on{false};
std::atomic<std::uint32_t> trace_max_chunks{256};

namespace {

constexpr std::size_t kChunkBytes = 64 * 1024;
constexpr std::size_t kChunkRecs = kChunkBytes / sizeof(TraceRec);
constexpr int kMaxPBufs = 4096;  // GORT_MAXPROCS' maximum; a P beyond uses the global buffer

struct Chunk {
  TraceRec rec[kChunkRecs];
};

struct TraceBuf {
  Mutex mu;
  bool active = false;  // records are taken (mu)
  std::vector<Chunk*> chunks;
  std::size_t used = 0;  // records in the last chunk
  std::uint32_t seq = 0;
  std::uint64_t lost = 0;
};

// What a stop takes out of a buffer.
struct Taken {
  std::vector<Chunk*> chunks;
  std::size_t used = 0;
  std::uint64_t lost = 0;
};

std::atomic<TraceBuf*> pbufs[kMaxPBufs];  // by P id; made by the first trace that needs them
TraceBuf* const gbuf = new TraceBuf;      // never freed, as the P buffers

// The session: under session_mu.
std::mutex session_mu;
std::FILE* out = nullptr;  // non-null while a trace runs
std::string out_path;
std::int64_t begin_ts = 0;
int nbufs = 0;  // P buffers of this trace

void activate(TraceBuf* b) {
  std::lock_guard lk(b->mu);
  b->active = true;
  b->chunks.clear();
  b->chunks.reserve(trace_max_chunks.load(std::memory_order_relaxed));
  b->used = 0;
  b->lost = 0;
}

Taken deactivate(TraceBuf* b) {
  Taken t;
  std::lock_guard lk(b->mu);
  b->active = false;
  t.chunks.swap(b->chunks);
  t.used = b->used;
  t.lost = b->lost;
  b->used = 0;
  return t;
}

void record(TraceBuf* b, const TraceRec& r) {
  std::lock_guard lk(b->mu);
  if (!b->active) return;
  if (b->chunks.empty() || b->used == kChunkRecs) {
    Chunk* c = nullptr;
    if (b->chunks.size() < trace_max_chunks.load(std::memory_order_relaxed) &&
        b->chunks.size() < b->chunks.capacity())
      c = new (std::nothrow) Chunk;
    if (!c) {
      b->lost++;
      return;
    }
    b->chunks.push_back(c);  // within the reserved capacity: no allocation, no throw
    b->used = 0;
  }
  TraceRec& dst = b->chunks.back()->rec[b->used++];
  dst = r;
  dst.seq = b->seq++;
}

// stop_locked ends the session (session_mu held) and writes the file.
bool stop_locked() {
  if (!out) return false;
  trace_on.store(false);
  std::vector<Taken> taken;
  taken.push_back(deactivate(gbuf));
  for (int i = 0; i < nbufs; i++) taken.push_back(deactivate(pbufs[i].load(std::memory_order_acquire)));
  const std::int64_t end = nanotime();  // after the last record was taken
  std::size_t n = 0;
  std::uint64_t lost = 0;
  for (const Taken& t : taken) {
    if (!t.chunks.empty()) n += (t.chunks.size() - 1) * kChunkRecs + t.used;
    lost += t.lost;
  }
  std::vector<TraceRec> recs;
  recs.reserve(n);
  for (Taken& t : taken) {
    for (std::size_t i = 0; i < t.chunks.size(); i++) {
      const std::size_t k = i + 1 == t.chunks.size() ? t.used : kChunkRecs;
      recs.insert(recs.end(), t.chunks[i]->rec, t.chunks[i]->rec + k);
      delete t.chunks[i];
    }
  }
  std::FILE* f = out;
  out = nullptr;
  bool ok = trace_write_json(f, recs.data(), recs.size(), begin_ts, end, lost);
  ok = std::fclose(f) == 0 && ok;
  if (!ok)
    std::fprintf(stderr, "gort: trace: writing %s failed: %s\n", out_path.c_str(), std::strerror(errno));
  return ok;
}

}  // namespace

void trace_emit(M* m, TraceEv ev, std::uint64_t a, std::uint64_t b, std::uint64_t c, const char* s) {
  TraceRec r{};
  r.ev = ev;
  r.a = a;
  r.b = b;
  r.c = c;
  r.s = s;
  r.p = -1;
  TraceBuf* buf = nullptr;
  if (m) {
    r.lane = static_cast<std::int32_t>(m->id);
    if (P* pp = m->p) {
      r.p = pp->id;
      if (pp->id < kMaxPBufs) buf = pbufs[pp->id].load(std::memory_order_acquire);
    }
  } else {
    r.lane = trace_thread_lane();
  }
  if (!buf) buf = gbuf;
  r.ts = nanotime();
  record(buf, r);
}

bool trace_start(const std::string& path) {
  std::lock_guard lk(session_mu);
  Sched* s = sched.load(std::memory_order_acquire);
  if (!s || out) {
    errno = s ? EBUSY : EINVAL;
    return false;
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  nbufs = s->procs < kMaxPBufs ? s->procs : kMaxPBufs;
  for (int i = 0; i < nbufs; i++) {
    if (!pbufs[i].load(std::memory_order_relaxed)) pbufs[i].store(new TraceBuf, std::memory_order_release);
    activate(pbufs[i].load(std::memory_order_relaxed));
  }
  activate(gbuf);
  out = f;
  out_path = path;
  begin_ts = nanotime();
  trace_on.store(true);
  // Lanes for the Ms that exist (MStart names a lane even if its M stays
  // idle), and the caller's slice, which began before the trace.
  std::vector<std::int64_t> ms;
  {
    std::lock_guard sl(s->mu);
    for (M* m : s->allm) ms.push_back(m->id);
  }
  for (std::int64_t id : ms) {
    TraceRec r{};
    r.ts = begin_ts;
    r.lane = static_cast<std::int32_t>(id);
    r.p = -1;
    r.ev = TraceEv::MStart;
    record(gbuf, r);
  }
  M* m = getm();
  if (G* gp = m ? m->curg.load(std::memory_order_relaxed) : nullptr)
    trace_emit(m, TraceEv::GoStart, gp->goid);
  return true;
}

bool trace_stop() {
  std::lock_guard lk(session_mu);
  return stop_locked();
}

void trace_run_begin() {
  const char* path = std::getenv("GORT_TRACE");
  if (!path || !*path) return;
  if (!trace_start(path))
    std::fprintf(stderr, "gort: GORT_TRACE=%s: cannot create the file (%s); not tracing\n", path,
                 std::strerror(errno));
}

void trace_run_end() {
  std::lock_guard lk(session_mu);
  stop_locked();
}

void trace_dying() {
  // Best effort: skip if a start or stop is under way (it may be this
  // thread's own, failing).
  std::unique_lock lk(session_mu, std::try_to_lock);
  if (lk.owns_lock()) stop_locked();
}

}  // namespace gort::rt

namespace gort::trace {

bool start(const std::string& path) { return rt::trace_start(path); }

bool stop() { return rt::trace_stop(); }

}  // namespace gort::trace
