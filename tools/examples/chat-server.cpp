// chat-server: a line-based chat room; what channels are for. Every line a
// client sends goes to all the other clients as "name: text". The name is
// the client's address ("127.0.0.1:51234") until it says "/nick NAME".
//
//   chat-server [--listen ADDR] [--queue N]   (default 127.0.0.1:9001; 256 lines per client)
//   nc 127.0.0.1 9001
//
// Four kinds of fibers, and one owner for every piece of state, Go's way
// ("share memory by communicating"):
//
//   accept loop --go--> reader (one per client) --join/leave/lines--> hub (one)
//                                                                      | out (per client, buffered)
//                                                                      v
//                                                                 writer (one per client) --> conn
//
//  - The hub fiber owns the set of clients and their names; nothing else
//    touches them, so there is no mutex. It waits in a select on three
//    channels, as a Go hub does:
//
//      for {                           for (;;)
//          select {                      gort::select(
//          case c := <-join:   ...         gort::on_recv(chans.join, [&](ClientPtr c) { ... }),
//          case c := <-leave:  ...         gort::on_recv(chans.leave, [&](ClientPtr c) { ... }),
//          case l := <-lines:  ...         gort::on_recv(chans.lines, [&](Line l) { ... }));
//          }
//      }
//
//  - A reader fiber per client reads lines from its connection and sends
//    them to the hub; on EOF or an error it sends `leave`.
//  - A writer fiber per client ranges over the client's outgoing channel
//    (`for msg := range c.out`) and writes each message, with whatever else
//    is queued behind it; when the channel is closed it closes the
//    connection.
//
// A slow client must not stall the room. The hub never waits for a client:
// it offers each message to a client's outgoing channel with a select that
// has a default (Go's `select { case c.out <- msg: default: ... }`), and the
// channel holds --queue messages. A client whose queue is full is
// DISCONNECTED, not skipped: dropping lines silently would leave that client
// a conversation with holes it cannot see, and a client --queue lines
// behind is gone or not reading (IRC servers do the same: "SendQ
// exceeded"). The hub removes it, closes its channel, and sets its write
// deadline to now, which wakes a writer stuck in write() with "i/o timeout";
// the writer then closes the connection, which wakes the reader. The others
// see "* NAME left (too slow)". Lines from a client the hub no longer knows
// are ignored.
//
// The queue has to absorb bursts, not only slow clients: a paste of many
// lines reaches the hub faster than even a fast client's writer can be
// scheduled (one read(2) brings many lines; the hub offers each in a few
// hundred nanoseconds), so a burst longer than the queue can disconnect a
// client that reads perfectly well. Go's scheduler does the same (a Go
// version of this server with the same queue loses fast clients to bursts
// as short or shorter), hence a default of 256 lines.
//
// Stops on SIGINT or SIGTERM (their default action).
#include <gort/gort.hpp>
#include <gort/net.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "examples.hpp"

namespace {

constexpr std::size_t kMaxLine = 4096;      // longer lines are cut into pieces of this size
constexpr std::chrono::seconds kLinger{5};  // time a leaving client has to take what is queued for it

struct Client {
  Client(gort::net::Conn c, std::size_t queue) : conn(std::move(c)), out(queue) {}
  gort::net::Conn conn;         // the reader reads, the writer writes (one of each is fine)
  gort::Chan<std::string> out;  // hub -> writer; only the hub sends and closes
  std::string name;             // set by the reader before `join`, then the hub's alone
};
using ClientPtr = std::shared_ptr<Client>;

struct Line {
  ClientPtr from;
  std::string text;  // without the newline
};

// Chans: the hub's three inputs. Chan is a handle: copies share the channel.
struct Chans {
  gort::Chan<ClientPtr> join{0}, leave{0};
  gort::Chan<Line> lines{0};
};

// Hub: the room. Only the hub fiber (run_hub) uses it.
class Hub {
 public:
  void join(ClientPtr c) {
    clients_.insert(c);
    offer(c, "* welcome " + c->name + "; /nick NAME changes your name\n");
    broadcast(c.get(), "* " + c->name + " joined\n");
  }

  void leave(const ClientPtr& c) {
    if (!clients_.erase(c)) return;  // already disconnected by the hub
    c->out.close();                  // the writer sends what is queued, then closes the conn...
    c->conn.set_write_deadline(std::chrono::steady_clock::now() + kLinger);  // ...if the client still reads
    broadcast(nullptr, "* " + c->name + " left\n");
  }

  void line(const Line& l) {
    if (!clients_.count(l.from)) return;  // disconnected while this line was on its way
    std::string_view text = l.text;
    if (text.starts_with("/nick ")) {
      std::string name(text.substr(6));
      if (name.empty() || name.size() > 32 || name.find(' ') != std::string::npos) {
        offer(l.from, "* usage: /nick NAME (1 to 32 characters, no spaces)\n");
        return;
      }
      broadcast(nullptr, "* " + l.from->name + " is now " + name + "\n");
      l.from->name = std::move(name);
      return;
    }
    broadcast(l.from.get(), l.from->name + ": " + l.text + "\n");
  }

 private:
  // offer queues msg for c without waiting; false if c's queue is full.
  static bool offer(const ClientPtr& c, std::string msg) {
    return gort::select(gort::on_send(c->out, std::move(msg)), gort::on_default()) == 0;
  }

  // broadcast offers msg to every client but `except`, and disconnects the
  // ones that cannot take it.
  void broadcast(const Client* except, const std::string& msg) {
    std::vector<ClientPtr> slow;
    for (const ClientPtr& c : clients_) {
      if (c.get() != except && !offer(c, msg)) slow.push_back(c);
    }
    for (const ClientPtr& c : slow) {
      examples::logf("chat-server: disconnecting %s (%s): outgoing queue full (%zu lines)", c->name.c_str(),
                     c->conn.remote_addr().to_string().c_str(), c->out.cap());
      clients_.erase(c);
      c->out.close();
      c->conn.set_write_deadline(std::chrono::steady_clock::now());  // a write in progress fails at once
    }
    for (const ClientPtr& c : slow) broadcast(nullptr, "* " + c->name + " left (too slow)\n");
  }

  std::set<ClientPtr> clients_;
};

void run_hub(Chans chans) {
  Hub hub;
  for (;;) {
    gort::select(gort::on_recv(chans.join, [&](ClientPtr c) { hub.join(std::move(c)); }),
                 gort::on_recv(chans.leave, [&](ClientPtr c) { hub.leave(c); }),
                 gort::on_recv(chans.lines, [&](Line l) { hub.line(l); }));
  }
}

// write_loop is the client's writer: Go's `for msg := range c.out { ... }`.
// It takes what else is queued along with each message and writes it all at
// once (Go: `n := len(c.out); for i := 0; i < n; i++ { buf += <-c.out }`, as
// in gorilla/websocket's chat example): one write per burst, not per line,
// so a writer that falls behind catches up instead of filling its queue.
void write_loop(ClientPtr c) {
  for (std::string& msg : c->out) {
    std::string batch = std::move(msg);
    for (std::size_t n = c->out.len(); n > 0; --n) {
      batch += c->out.recv().value;  // does not park: only this fiber receives, and n are buffered
    }
    if (c->conn.write(batch).err) break;  // the peer is gone, or the hub set the deadline
  }
  c->conn.close();  // wakes the reader, if it is still reading
}

// serve is the client's reader: split what arrives into lines for the hub.
void serve(gort::net::Conn conn, Chans chans, std::size_t queue) {
  auto c = std::make_shared<Client>(std::move(conn), queue);
  c->name = c->conn.remote_addr().to_string();
  chans.join.send(c);  // the hub queues the welcome before anything else
  gort::go(write_loop, c);

  std::string pending;
  char buf[4096];
  for (;;) {
    auto [n, err] = c->conn.read(buf);
    pending.append(buf, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string text = pending.substr(start, nl - start);
      if (!text.empty() && text.back() == '\r') text.pop_back();  // telnet's "\r\n"
      if (!text.empty()) chans.lines.send(Line{c, std::move(text)});
    }
    pending.erase(0, start);
    while (pending.size() >= kMaxLine) {
      chans.lines.send(Line{c, pending.substr(0, kMaxLine)});
      pending.erase(0, kMaxLine);
    }
    if (err) break;  // EOF, or closed by the writer
  }
  chans.leave.send(c);
}

}  // namespace

int main(int argc, char** argv) {
  examples::Args args(argc, argv, {"listen", "queue"},
                      "usage: chat-server [--listen ADDR] [--queue N]   (defaults 127.0.0.1:9001, 256)");
  const std::string addr = args.get("listen", "127.0.0.1:9001");
  const long queue = args.integer("queue", 256);
  if (queue < 1) {
    examples::logf("chat-server: --queue must be at least 1");
    return 2;
  }
  return gort::run([&] {
    auto [ln, err] = gort::net::listen("tcp", addr);
    if (err) {
      examples::logf("chat-server: listen %s: %s", addr.c_str(), err.message().c_str());
      return 1;
    }
    Chans chans;
    gort::go(run_hub, chans);
    examples::announce(ln);
    for (;;) {
      auto [conn, err] = ln.accept();
      if (err) {
        examples::logf("chat-server: accept: %s", err.message().c_str());
        return 1;
      }
      gort::go(serve, std::move(conn), chans, static_cast<std::size_t>(queue));
    }
  });
}
