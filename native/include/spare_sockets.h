// SpareSockets: UDP sockets made ahead of need (socket(), buffer sizes, IPV6_V6ONLY) but not
// bound, which the main thread binds when it opens a stream.
//
// Issue 12: making a stream's four sockets took the SIP thread 3.2 % of its time at 400 calls/s
// (perf of that thread: socket() 2.6 %, the setsockopt calls 0.6 %; bind() another 0.7 %). The
// bind stays with the caller: its failure (EADDRINUSE) is how the caller learns, synchronously,
// that a port is taken before it writes the port into SDP. The rest needs no particular thread,
// so the relay's worker makes spares on its own loop, after the commands it drains, and the main
// thread takes them. An unbound socket is given no port and receives nothing: a spare holds no
// port of the range and no stranger's packets.
//
// Bounded by kPerFamily per family (a constant, not a setting: it costs that many descriptors per
// shard and holds nothing from the network). A taker that finds none makes its own socket, as
// before: spares only move work off its thread.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "socket_buffers.h"
#include "udp_socket.h"

namespace pinlatch {

class SpareSockets {
 public:
  // Spares kept per address family: the sockets of 16 streams, about what a shard opens between
  // two wake-ups of its loop at 1,000 calls/s (ShardPool wakes it within 5 ms of an open).
  static constexpr size_t kPerFamily = 64;
  // Sockets one top-up makes at most, all families together, so that a loop relaying media is
  // not held up for long.
  static constexpr size_t kPerTopUp = 16;
  // After a top-up that could not make a socket (EMFILE, ENOBUFS, ...), the next one waits this
  // long: TopUp runs on every iteration of the worker's loop, which must not pay a failing
  // socket() per batch of packets while the process is out of descriptors.
  static constexpr int64_t kRetryAfterFailureMs = 1000;

  explicit SpareSockets(const SocketBufferSizes& buffers) : buffers_(buffers) {}
  SpareSockets(const SpareSockets&) = delete;
  SpareSockets& operator=(const SpareSockets&) = delete;

  // Any thread: a socket of `family` (AF_INET or AF_INET6) from Open, unbound; a spare when there
  // is one, else made here. The family is then one the worker keeps spares of. Throws
  // ERR_PINLATCH_SOCKET when it has to make one and cannot.
  UdpSocket Take(int family);

  // Worker: makes spares of every family taken so far, up to kPerFamily each, at most kPerTopUp
  // in one call. A failure (EMFILE, ...) ends the top-up quietly and pauses top-ups for
  // kRetryAfterFailureMs: a taker meanwhile makes its own socket and reports the error where it
  // happens.
  void TopUp();

  // Closes the spares; later top-ups make none (the relay is closed: no descriptor outlives it).
  void Close();

  // Spares held now, all families.
  size_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<UdpSocket>& Pool(int family) { return family == AF_INET6 ? v6_ : v4_; }

  const SocketBufferSizes buffers_;
  std::mutex mutex_;
  std::vector<UdpSocket> v4_;
  std::vector<UdpSocket> v6_;
  // Families taken so far, and spares held: read without the mutex by TopUp on every loop
  // iteration of the worker, which has nothing to do while they are full.
  std::atomic<bool> want_v4_{false};
  std::atomic<bool> want_v6_{false};
  std::atomic<size_t> count_{0};
  bool closed_ = false;  // guarded by mutex_
  // Worker only: no top-up before this (MonotonicMs) after a failed one.
  int64_t retry_at_ms_ = 0;
};

}  // namespace pinlatch
