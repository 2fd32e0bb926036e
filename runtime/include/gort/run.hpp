// gort/run.hpp: starting the runtime.
//
// gort::run(main) is gort's `func main()`: it starts the scheduler (Ps and Ms),
// runs `main` as the first fiber, and returns main's exit status when main
// returns. As in Go, fibers still alive at that point are abandoned: they never
// run again, their destructors do not run, and the process can exit cleanly.
//
// run() may be called again after it returns (tests use this to run the same
// scenario with 1, 2 and 4 Ps); it must not be nested or called concurrently.
#pragma once

#include <gort/detail/spawn.hpp>

#include <cstddef>
#include <functional>
#include <type_traits>

namespace gort {

// Config tunes one run of the runtime. Zero means "use the default".
struct Config {
  // Number of Ps (logical processors). Default: $GORT_MAXPROCS, else the CPUs
  // this process may use (affinity mask and cgroup CPU quota).
  int procs = 0;
  // Default stack size of every fiber in bytes. Default: $GORT_STACK_SIZE,
  // else kDefaultStackSize (see <gort/go.hpp>).
  std::size_t stack_size = 0;
};

namespace detail {
int run_main(const Config& cfg, std::function<int()> main);
}

// run starts the runtime and runs main as the first fiber. main may return int
// (the exit status) or void (status 0).
template <class F>
int run(const Config& cfg, F&& main) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
    return detail::run_main(cfg, [m = std::forward<F>(main)]() mutable {
      m();
      return 0;
    });
  } else {
    return detail::run_main(cfg, [m = std::forward<F>(main)]() mutable { return static_cast<int>(m()); });
  }
}

template <class F>
int run(F&& main) {
  return run(Config{}, std::forward<F>(main));
}

}  // namespace gort
