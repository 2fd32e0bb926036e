// gort/chan.hpp: Go's channels.
//
//   gort::Chan<int> ch;          // nil: send and recv block forever
//   gort::Chan<int> ch(0);       // make(chan int): unbuffered, a rendezvous
//   gort::Chan<int> ch(128);     // make(chan int, 128)
//   ch.send(42);                 // ch <- 42
//   auto [v, ok] = ch.recv();    // v, ok := <-ch
//   for (int v : ch) ...         // for v := range ch
//   ch.close();                  // close(ch)
//
// A Chan is a handle: copies refer to the same channel, as in Go, and the
// channel lives while a handle does. Blocked senders and receivers park
// their fiber, never the thread; a value sent to a waiting receiver is moved
// straight into it. Move-only element types work.
//
// Panics, with Go's messages (std::logic_error; a panic if it escapes the
// fiber): send on a closed channel, close of a closed channel, close of a
// nil channel. After close, receivers drain the buffer, then get
// {T{}, false} at once.
#pragma once

#include <gort/detail/chan_core.hpp>

#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>

namespace gort {

// Received: the result of a receive, Go's `v, ok := <-ch`. ok is false when
// the channel was closed and drained; value is then T{}.
template <class T>
struct Received {
  T value{};
  bool ok = false;
  explicit operator bool() const { return ok; }
};

template <class T>
class Chan {
 public:
  static_assert(std::is_move_constructible_v<T>, "channel elements must be movable");

  Chan() = default;  // nil
  explicit Chan(std::size_t cap) : c_(detail::chan_make(&detail::elem_ops<T>, cap)) {}
  Chan(const Chan& o) : c_(o.c_) { detail::chan_retain(c_); }
  Chan(Chan&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Chan& operator=(Chan o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~Chan() { detail::chan_release(c_); }

  // send moves v into the channel, parking until a receiver or buffer
  // space takes it.
  void send(T v) { detail::chan_send(c_, &v); }

  // recv parks until a value arrives or the channel is closed and drained.
  Received<T> recv() {
    static_assert(std::is_default_constructible_v<T>, "recv() needs T{} for a closed channel");
    alignas(T) unsigned char buf[sizeof(T)];
    if (!detail::chan_recv(c_, buf)) return Received<T>{};
    T* p = std::launder(reinterpret_cast<T*>(buf));
    Received<T> r{std::move(*p), true};
    p->~T();
    return r;
  }

  void close() { detail::chan_close(c_); }
  std::size_t len() const { return detail::chan_len(c_); }
  std::size_t cap() const { return detail::chan_cap(c_); }

  bool is_nil() const { return c_ == nullptr; }
  friend bool operator==(const Chan& a, const Chan& b) { return a.c_ == b.c_; }

  // Iteration receives until the channel is closed and drained.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Chan* ch) : ch_(ch) { ++*this; }
    T& operator*() { return cur_.value; }
    iterator& operator++() {
      cur_ = ch_->recv();
      if (!cur_.ok) ch_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(const iterator& o) const { return ch_ == o.ch_; }

   private:
    Chan* ch_ = nullptr;
    Received<T> cur_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

  detail::hchan* raw() const { return c_; }  // for select

 private:
  detail::hchan* c_ = nullptr;
};

}  // namespace gort
