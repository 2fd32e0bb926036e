// gort/go.hpp: spawning fibers, Go's `go f(x)`.
//
//   gort::go(f, args...);                           // like: go f(args...)
//   gort::go(gort::FiberOptions{.stack_size = 1 << 20}, f, args...);
//
// f and args are decay-copied (moved when given as rvalues) into the
// runtime's fiber record when they fit in 64 bytes, else at the top of the
// new fiber's stack: spawning allocates nothing on the heap.
// The fiber becomes runnable at once; it runs on whichever M (OS thread) picks
// it up, and may move between Ms every time it parks or yields.
//
// An exception escaping f is a panic: the process prints it and exits 2.
#pragma once

#include <gort/detail/spawn.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

namespace gort {

// kDefaultStackSize is the stack size of a fiber when neither FiberOptions,
// Config::stack_size nor $GORT_STACK_SIZE says otherwise. Stacks are reserved,
// not committed: a fiber that uses 3 KiB of stack costs one 4 KiB page of RAM.
// 256 KiB leaves room for OpenSSL handshakes and deep C++ call chains; fibers
// cannot grow their stacks as goroutines do, and overflowing one is a fatal
// error ("fatal error: stack overflow in fiber N") caught by a guard page.
inline constexpr std::size_t kDefaultStackSize = 256 * 1024;

struct FiberOptions {
  // Stack size in bytes; 0 = the runtime's default. Rounded up to whole pages.
  std::size_t stack_size = 0;
};

// clang-format 14 mangles requires-clauses: keep it off them.
// clang-format off

// go spawns a fiber running std::invoke(f, args...). It throws
// std::logic_error outside gort::run and std::system_error when no stack can
// be had (for example when vm.max_map_count is reached).
template <class F, class... Args>
  requires(!std::same_as<std::remove_cvref_t<F>, FiberOptions>) &&
          std::invocable<std::decay_t<F>, std::decay_t<Args>...>
void go(const FiberOptions& opts, F&& f, Args&&... args);

template <class F, class... Args>
  requires(!std::same_as<std::remove_cvref_t<F>, FiberOptions>) &&
          std::invocable<std::decay_t<F>, std::decay_t<Args>...>
void go(F&& f, Args&&... args) {
  go(FiberOptions{}, std::forward<F>(f), std::forward<Args>(args)...);
}

template <class F, class... Args>
  requires(!std::same_as<std::remove_cvref_t<F>, FiberOptions>) &&
          std::invocable<std::decay_t<F>, std::decay_t<Args>...>
void go(const FiberOptions& opts, F&& f, Args&&... args) {
  // The closure lives in the fiber's record or at the top of its stack
  // (wherever newproc_begin says) until the fiber ends.
  struct Closure {
    std::decay_t<F> fn;
    std::tuple<std::decay_t<Args>...> args;
    static void invoke(void* self) {
      auto* c = static_cast<Closure*>(self);
      struct Destroy {
        Closure* c;
        ~Destroy() { c->~Closure(); }
      } destroy{c};
      std::apply(std::move(c->fn), std::move(c->args));
    }
  };
  detail::Spawn s = detail::newproc_begin(opts.stack_size, sizeof(Closure), alignof(Closure));
  try {
    ::new (s.closure) Closure{std::forward<F>(f), {std::forward<Args>(args)...}};
  } catch (...) {
    detail::newproc_abort(s);
    throw;
  }
  detail::newproc_commit(s, &Closure::invoke);
}
// clang-format on

}  // namespace gort
