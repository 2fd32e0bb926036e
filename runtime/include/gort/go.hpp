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
// Called on a fiber, go() itself yields when the new fiber fills the run
// queue of the caller's P (256): a loop of go() calls runs its fibers as it
// goes. So, as after any call that may yield, the caller may continue on
// another thread (docs/differences.md, section 4).
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

namespace detail {

// CallSite: where go() was called; std::source_location's part, which clang
// 14 with libstdc++ 12 cannot play (it lacks __builtin_source_location). The
// builtins below exist in both compilers and, in a default argument,
// evaluate at the caller, as std::source_location::current() does.
struct CallSite {
  const char* file;
  unsigned line;
  static constexpr CallSite here(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    return CallSite{file, line};
  }
};

// spawn is go()'s body: build the closure where the runtime says (inside the
// new fiber's record when it fits, else atop its stack) and make it runnable.
template <class F, class... Args>
void spawn(const FiberOptions& opts, const CallSite& where, F&& f, Args&&... args) {
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "gort::go: the function cannot be called with these arguments");
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
  Spawn s = newproc_begin(opts.stack_size, sizeof(Closure), alignof(Closure));
  try {
    ::new (s.closure) Closure{std::forward<F>(f), {std::forward<Args>(args)...}};
  } catch (...) {
    newproc_abort(s);
    throw;
  }
  newproc_commit(s, &Closure::invoke, where.file, where.line);
}

template <class F, class... Args>
void spawn_opts(const FiberOptions& opts, const CallSite& where, F&& f, Args&&... args) {
  spawn(opts, where, std::forward<F>(f), std::forward<Args>(args)...);
}

}  // namespace detail

// go spawns a fiber running std::invoke(f, args...); with a FiberOptions
// first, with those options. It throws std::logic_error outside gort::run
// and std::system_error when no stack can be had (for example when
// vm.max_map_count is reached).
//
// go is a class template used like a function: its constructor does the
// work. That is what lets it record where it was called (for fiber dumps):
// a defaulted call-site parameter (std::source_location's job) may follow a
// parameter pack only when the pack is deduced by a deduction guide, as below.
template <class F, class... Args>
struct go {
  go(F&& f, Args&&... args, const detail::CallSite& where = detail::CallSite::here()) {
    if constexpr (std::is_same_v<std::remove_cvref_t<F>, FiberOptions>) {
      static_assert(sizeof...(Args) > 0, "gort::go: FiberOptions must be followed by a function");
      detail::spawn_opts(f, where, std::forward<Args>(args)...);
    } else {
      detail::spawn(FiberOptions{}, where, std::forward<F>(f), std::forward<Args>(args)...);
    }
  }
};

template <class F, class... Args>
go(F&&, Args&&...) -> go<F, Args...>;

}  // namespace gort
