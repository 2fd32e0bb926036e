// Tests of runtime/rwmutex.cpp.
#include "gort_test.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>

using gort_test::for_each_procs;

namespace {

// max_into raises m to at least v.
void max_into(std::atomic<int>& m, int v) {
  int cur = m.load();
  while (cur < v && !m.compare_exchange_weak(cur, v)) {
  }
}

}  // namespace

TEST_CASE("rwmutex: several readers hold it at once") {
  static constexpr int kReaders = 8;
  for_each_procs([](int) {
    gort::RWMutex rw;
    std::atomic<int> inside{0}, max_inside{0};
    gort::WaitGroup wg;
    wg.add(kReaders);
    for (int r = 0; r < kReaders; r++) {
      gort::go([&] {
        std::shared_lock lk(rw);
        max_into(max_inside, ++inside);
        // Stay until every reader is in (bounded, so a bug fails, not hangs).
        for (int i = 0; i < 100'000 && inside.load() < kReaders; i++) gort::yield();
        inside--;
        wg.done();
      });
    }
    wg.wait();
    CHECK(max_inside.load() == kReaders);
  });
}

TEST_CASE("rwmutex: a writer excludes readers and other writers") {
  static constexpr int kWriters = 8, kReaders = 32, kIters = 50;
  for_each_procs([](int) {
    gort::RWMutex rw;
    long value = 0;  // guarded by rw
    std::atomic<int> readers_in{0}, writers_in{0}, violations{0};
    gort::WaitGroup wg;
    wg.add(kWriters + kReaders);
    for (int w = 0; w < kWriters; w++) {
      gort::go([&] {
        for (int i = 0; i < kIters; i++) {
          std::unique_lock lk(rw);
          if (writers_in++ != 0 || readers_in.load() != 0) violations++;
          long v = value;
          if (i % 8 == 0) gort::yield();
          value = v + 1;
          writers_in--;
        }
        wg.done();
      });
    }
    for (int r = 0; r < kReaders; r++) {
      gort::go([&] {
        for (int i = 0; i < kIters; i++) {
          std::shared_lock lk(rw);
          readers_in++;
          if (writers_in.load() != 0) violations++;
          volatile long v = value;
          (void)v;
          if (i % 8 == 0) gort::yield();
          readers_in--;
        }
        wg.done();
      });
    }
    wg.wait();
    CHECK(violations.load() == 0);
    std::shared_lock lk(rw);
    CHECK(value == long{kWriters} * kIters);
  });
}

TEST_CASE("rwmutex: a stream of readers does not starve a writer") {
  // Readers overlap so that one is always inside. Once the writer waits, new
  // readers wait behind it: only the readers already inside (at most one per
  // reader fiber) get in before the writer. The bound allows one more per
  // reader: writer_waiting is set just before lock() announces the writer,
  // and with several Ms a reader may get in once more in between.
  static constexpr int kReaders = 4;
  static constexpr long kLimit = 200'000;  // rounds per reader before giving up
  for_each_procs([](int) {
    gort::RWMutex rw;
    std::atomic<bool> writer_waiting{false}, writer_got{false};
    std::atomic<int> started{0}, reads_while_writer_waited{0};
    gort::WaitGroup wg;
    wg.add(kReaders + 1);
    for (int r = 0; r < kReaders; r++) {
      gort::go([&] {
        started++;
        for (long i = 0; i < kLimit && !writer_got.load(); i++) {
          rw.lock_shared();
          if (writer_waiting.load() && !writer_got.load()) reads_while_writer_waited++;
          gort::yield();
          rw.unlock_shared();
        }
        wg.done();
      });
    }
    gort::go([&] {
      while (started.load() < kReaders) gort::yield();
      gort::sleep_for(std::chrono::milliseconds(1));
      writer_waiting = true;
      rw.lock();
      writer_got = true;
      rw.unlock();
      wg.done();
    });
    wg.wait();
    CHECK(writer_got.load());
    CHECK(reads_while_writer_waited.load() <= 2 * kReaders);
  });
}

TEST_CASE("rwmutex: readers that waited for a writer all get in when it unlocks") {
  static constexpr int kReaders = 16;
  for_each_procs([](int) {
    gort::RWMutex rw;
    rw.lock();
    std::atomic<int> got{0};
    gort::WaitGroup wg;
    wg.add(kReaders);
    for (int r = 0; r < kReaders; r++) {
      gort::go([&] {
        rw.lock_shared();
        got++;
        rw.unlock_shared();
        wg.done();
      });
    }
    gort::sleep_for(std::chrono::milliseconds(5));
    int before = got.load();
    rw.unlock();
    wg.wait();
    CHECK(before == 0);
    CHECK(got.load() == kReaders);
    CHECK(rw.try_lock());
    rw.unlock();
  });
}

TEST_CASE("rwmutex: try_lock and try_lock_shared never wait") {
  gort::RWMutex rw;  // none of these waits, so no fiber is needed
  CHECK(rw.try_lock_shared());
  CHECK(rw.try_lock_shared());
  CHECK_FALSE(rw.try_lock());
  rw.unlock_shared();
  rw.unlock_shared();
  CHECK(rw.try_lock());
  CHECK_FALSE(rw.try_lock_shared());
  CHECK_FALSE(rw.try_lock());
  CHECK_THROWS_AS(rw.lock_shared(), std::logic_error);  // would wait, outside a fiber
  rw.unlock();
  rw.lock_shared();
  CHECK_THROWS_AS(rw.lock(), std::logic_error);
  rw.unlock_shared();
  rw.lock();
  rw.unlock();
}

TEST_CASE("rwmutex: unlock of an RWMutex not held that way throws and leaves it usable") {
  gort::RWMutex rw;
  CHECK_THROWS_WITH_AS(rw.unlock(), "sync: Unlock of unlocked RWMutex", std::logic_error);
  CHECK_THROWS_WITH_AS(rw.unlock_shared(), "sync: RUnlock of unlocked RWMutex", std::logic_error);
  rw.lock_shared();
  CHECK_THROWS_AS(rw.unlock(), std::logic_error);
  rw.unlock_shared();
  rw.lock();
  CHECK_THROWS_AS(rw.unlock_shared(), std::logic_error);
  rw.unlock();
  CHECK(rw.try_lock());
  rw.unlock();
}
