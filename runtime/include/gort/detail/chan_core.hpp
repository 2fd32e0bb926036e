// gort/detail/chan_core.hpp: the non-template core of channels and select
// (internal; runtime/chan.cpp and runtime/select.cpp).
//
// Chan<T> is a template so that any element type works; everything that
// touches wait queues, locks and parking lives once, in the runtime, and
// moves elements through an ElemOps table: the element's size and how to
// move-construct and destroy it.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace gort::detail {

struct ElemOps {
  std::size_t size;
  std::size_t align;
  void (*move)(void* dst, void* src);  // move-construct *dst from *src
  void (*destroy)(void* p);
  bool trivial;  // trivially copyable and destructible: memcpy, no destroy
};

template <class T>
inline constexpr ElemOps elem_ops{sizeof(T), alignof(T),
                                  [](void* d, void* s) { ::new (d) T(std::move(*static_cast<T*>(s))); },
                                  [](void* p) { static_cast<T*>(p)->~T(); },
                                  std::is_trivially_copyable_v<T>&& std::is_trivially_destructible_v<T>};

struct hchan;  // the runtime's channel (runtime/chan.hpp)

hchan* chan_make(const ElemOps* ops, std::size_t cap);
void chan_retain(hchan* c);
void chan_release(hchan* c);

// chan_send moves *elem into the channel. Blocks until done (forever on a
// nil channel); throws std::logic_error("send on closed channel").
void chan_send(hchan* c, void* elem);
// chan_recv receives into uninitialized *dst; returns false (dst untouched)
// once the channel is closed and drained. Blocks forever on a nil channel.
bool chan_recv(hchan* c, void* dst);
// chan_close: Go's close(); throws on a nil or closed channel.
void chan_close(hchan* c);
std::size_t chan_len(const hchan* c);
std::size_t chan_cap(const hchan* c);

// SelectCase: one case of a select; `ok` is set for a receive that ran.
struct SelectCase {
  hchan* c;    // null: a nil channel, never chosen
  void* elem;  // send: the value to move out; receive: uninitialized storage
  bool send;
  bool ok;
};

// select_go runs Go's select over cases[0..n): returns the index of the
// case that ran, or -1 (only if !block) when none was ready.
int select_go(SelectCase* cases, int n, bool block);

}  // namespace gort::detail
