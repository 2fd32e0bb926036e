// gort/select.hpp: Go's select statement.
//
//   int i = gort::select(
//       gort::on_recv(requests, [&](Request r, bool ok) { ... }),   // case r, ok := <-requests
//       gort::on_recv(quit, [&](int) { ... }),                     // case <-quit (ok dropped)
//       gort::on_send(out, value, [&] { ... }),                    // case out <- value
//       gort::on_default([&] { ... }));                            // default
//
// As in Go: when several cases can proceed, one is chosen uniformly at
// random; with none ready and no default, the fiber parks on every channel
// and exactly one case completes; a nil channel's case is never chosen.
// select returns the index of the case that ran (in argument order), after
// running its handler. A send case's value is moved only if that case runs.
#pragma once

#include <gort/chan.hpp>
#include <gort/detail/chan_core.hpp>

#include <cstddef>
#include <new>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace gort {

namespace detail {

template <class T, class F>
struct RecvCase {
  hchan* c;
  F f;
  alignas(T) unsigned char buf[sizeof(T)];
  void prepare(SelectCase& sc) { sc = SelectCase{c, buf, false, false}; }
  void run(const SelectCase& sc) {
    if (sc.ok) {
      T* p = std::launder(reinterpret_cast<T*>(buf));
      struct Destroy {
        T* p;
        ~Destroy() { p->~T(); }
      } d{p};
      call(std::move(*p), true);
    } else {
      call(T{}, false);
    }
  }
  void call(T&& v, bool ok) {
    if constexpr (std::is_invocable_v<F&, T&&, bool>)
      f(std::move(v), ok);
    else if constexpr (std::is_invocable_v<F&, T&&>)
      f(std::move(v));
    else
      f();
  }
};

template <class T, class F>
struct SendCase {
  hchan* c;
  T v;
  F f;
  void prepare(SelectCase& sc) { sc = SelectCase{c, &v, true, false}; }
  void run(const SelectCase&) { f(); }
};

template <class F>
struct DefaultCase {
  F f;
};

template <class C>
struct is_default : std::false_type {};
template <class F>
struct is_default<DefaultCase<F>> : std::true_type {};

}  // namespace detail

// on_recv: a receive case; the handler takes (T value, bool ok), (T value)
// or nothing.
template <class T, class F>
detail::RecvCase<T, std::decay_t<F>> on_recv(const Chan<T>& ch, F&& f) {
  return {ch.raw(), std::forward<F>(f), {}};
}
template <class T>
auto on_recv(const Chan<T>& ch) {
  return on_recv(ch, [] {});
}

// on_send: a send case; the handler runs after the value went.
template <class T, class U, class F>
detail::SendCase<T, std::decay_t<F>> on_send(const Chan<T>& ch, U&& v, F&& f) {
  return {ch.raw(), T(std::forward<U>(v)), std::forward<F>(f)};
}
template <class T, class U>
auto on_send(const Chan<T>& ch, U&& v) {
  return on_send(ch, std::forward<U>(v), [] {});
}

template <class F>
detail::DefaultCase<std::decay_t<F>> on_default(F&& f) {
  return {std::forward<F>(f)};
}
inline auto on_default() {
  return on_default([] {});
}

template <class... Cases>
int select(Cases&&... cases) {
  constexpr std::size_t kDefaults = (0 + ... + detail::is_default<std::decay_t<Cases>>::value);
  static_assert(kDefaults <= 1, "select: at most one default case");
  constexpr std::size_t n = sizeof...(Cases);
  std::tuple<Cases&...> cs(cases...);
  detail::SelectCase sc[n > 0 ? n : 1];
  int map[n > 0 ? n : 1];  // select_go's index -> argument index
  int k = 0;
  int default_at = -1;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          auto& c = std::get<I>(cs);
          if constexpr (detail::is_default<std::decay_t<decltype(c)>>::value) {
            default_at = static_cast<int>(I);
          } else {
            c.prepare(sc[k]);
            map[k++] = static_cast<int>(I);
          }
        }(),
        ...);
  }
  (std::make_index_sequence<n>{});
  int chosen = detail::select_go(sc, k, kDefaults == 0);
  int arg = chosen < 0 ? default_at : map[chosen];
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          if (static_cast<int>(I) != arg) return;
          auto& c = std::get<I>(cs);
          if constexpr (detail::is_default<std::decay_t<decltype(c)>>::value)
            c.f();
          else
            c.run(sc[chosen]);
        }(),
        ...);
  }
  (std::make_index_sequence<n>{});
  return arg;
}

}  // namespace gort
