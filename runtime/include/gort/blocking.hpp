// gort/blocking.hpp: run a blocking call without blocking other fibers.
//
// A fiber that makes a blocking call (getaddrinfo, a file read, a C library
// that waits) holds its OS thread, an M, for as long as the call lasts.
// gort::blocking(fn) runs fn on a pool of plain OS threads instead and parks
// only the calling fiber until fn returns; the fiber's thread goes on running
// other fibers meanwhile (Go runs cgo and blocking system calls so).
//
//   auto rc = gort::blocking([&] { return ::getaddrinfo(host, nullptr, &hints, &res); });
//
// - fn's result is returned (void, a value, or a reference); an exception
//   thrown by fn is rethrown in the calling fiber.
// - fn runs on another thread: its thread_locals, errno included, are that
//   thread's. Read errno inside fn and return it.
// - Outside a fiber (no gort::run on this thread), blocking(fn) calls fn
//   directly.
// - The pool makes threads on demand, up to $GORT_BLOCKING_THREADS (default
//   64, at most 4096); further calls wait in FIFO order. A thread idle for
//   10 s exits; the rest are stopped when gort::run returns. Calls still in
//   flight then are abandoned with their fibers: fn runs to its end on its
//   thread, and nobody is woken.
// - While a fiber waits here the deadlock report stays quiet: a thread is
//   busy on its behalf.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace gort {

namespace detail {

// blocking_call runs fn(arg) on a pool thread and parks the calling fiber
// until it returns. fn must not throw. Returns false, doing nothing, when
// the caller is not a fiber.
bool blocking_call(void (*fn)(void*), void* arg);

// BlockingResult holds what fn returned until the fiber resumes.
template <class R>
struct BlockingResult {
  std::optional<R> v;
  template <class F>
  void set(F&& f) {
    v.emplace(std::invoke(std::forward<F>(f)));
  }
  R get() { return std::move(*v); }
};
template <class R>
struct BlockingResult<R&> {
  R* p = nullptr;
  template <class F>
  void set(F&& f) {
    p = std::addressof(std::invoke(std::forward<F>(f)));
  }
  R& get() { return *p; }
};
template <class R>
struct BlockingResult<R&&> {
  R* p = nullptr;
  template <class F>
  void set(F&& f) {
    R&& r = std::invoke(std::forward<F>(f));
    p = std::addressof(r);
  }
  R&& get() { return std::move(*p); }
};
template <>
struct BlockingResult<void> {
  template <class F>
  void set(F&& f) {
    std::invoke(std::forward<F>(f));
  }
  void get() {}
};

}  // namespace detail

// blocking runs fn() on a thread of the blocking pool and parks the calling
// fiber until it returns; returns fn's result or rethrows its exception.
template <class F>
std::invoke_result_t<F> blocking(F&& fn) {
  using R = std::invoke_result_t<F>;
  struct Call {
    std::remove_reference_t<F>* fn;
    detail::BlockingResult<R> result;
    std::exception_ptr error;
  } call{std::addressof(fn), {}, nullptr};
  auto run = [](void* arg) {
    auto* c = static_cast<Call*>(arg);
    try {
      c->result.set(static_cast<F&&>(*c->fn));
    } catch (...) {
      c->error = std::current_exception();
    }
  };
  if (!detail::blocking_call(run, &call)) return std::invoke(std::forward<F>(fn));
  if (call.error) std::rethrow_exception(call.error);
  return call.result.get();
}

}  // namespace gort
