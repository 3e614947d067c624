// Stream: one relayed media stream = two legs (A, B), each with an RTP socket on an even port and
// an RTCP socket on the next port (both always open, so rtcp-mux can be switched per leg). What
// arrives on one leg leaves through the other leg's socket toward that leg's peer, without
// entering JavaScript. Two I/O paths share Admit(), the per-packet rules: with a UringEngine the
// engine receives and sends for the stream; without one (epoll path, any kernel) each socket has
// a uv_poll on the environment's loop whose callback drains it in recvmmsg batches and forwards
// each batch with one sendmmsg per outgoing socket.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>

#include "batch_buffers.h"
#include "env_loop.h"
#include "latch_state.h"
#include "leg_counters.h"
#include "socket_address.h"
#include "socket_buffers.h"
#include "spare_sockets.h"
#include "udp_socket.h"
#include "uring_engine.h"

namespace pinlatch {

class Stream;

// One uv_poll_t and the socket it watches. Heap-allocated and freed by its own close callback,
// which may run after the Stream (and even the addon instance) is gone; the EnvLoop reference
// keeps the environment's teardown waiting for it.
struct PollHandle {
  uv_poll_t poll;
  std::shared_ptr<EnvLoop> env;
  Stream* stream = nullptr;
  uint8_t leg = 0;
  Channel channel = Channel::kRtpSocket;
};

// The four bound sockets of a stream: A RTP/RTCP, B RTP/RTCP ([leg][channel]). Bound by whichever
// thread opens the stream (the main thread through RelayControl, or the relay's own thread), then
// handed to the Stream on the relay's thread.
struct StreamSockets {
  int family = 0;
  UdpSocket sockets[2][2];

  // Binds all four (RTCP on port + 1), sockets taken from `spares` (made ahead by the relay's
  // worker), or throws NativeError with nothing left open.
  static std::unique_ptr<StreamSockets> Bind(const SocketAddress& local, uint16_t a_port, uint16_t b_port,
                                             SpareSockets& spares);
};

class Stream {
 public:
  struct Leg {
    LatchState latch;
    LegCounters counters;
    UdpSocket sockets[2];
    PollHandle* polls[2] = {nullptr, nullptr};
    UringSocket* watches[2] = {nullptr, nullptr};
  };

  // What to do with one received datagram.
  struct Forward {
    // Destination, or nullptr when the packet is dropped (already counted).
    const SocketAddress* to = nullptr;
    int out_leg = 0;
    // The out leg's socket it leaves from.
    Channel via = Channel::kRtpSocket;
    bool is_rtcp = false;
  };

  // Takes the four bound sockets and starts receiving on them: through `uring` when given, else
  // with a uv_poll per socket. Throws NativeError; on failure nothing stays open.
  Stream(uint32_t id, std::shared_ptr<EnvLoop> env, BatchBuffers* buffers, UringEngine* uring, StreamSockets&& sockets);
  ~Stream() { Close(); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uint32_t id() const { return id_; }
  int family() const { return family_; }
  // Signalling (re)negotiated the stream (a leg got a policy): the idle clock starts again, as
  // rtpengine counts its timeout from the last signalling or the last packet, whichever is later.
  void Negotiated();
  Leg& leg(int index) { return legs_[index]; }
  const Leg& leg(int index) const { return legs_[index]; }
  // Last valid packet on either leg, or the last negotiation (opening included) if that is later.
  int64_t LastActivityMs() const;

  // Stops receiving and closes every socket. Idempotent.
  void Close();

  // The per-packet rules (both paths): validation (rtp_check.h), the latch of the receiving leg,
  // the in/drop counters, and where the packet goes. `truncated`: larger than a receive slot.
  Forward Admit(int leg_index, Channel channel, const uint8_t* data, size_t length, bool truncated,
                const SocketAddress& source, int64_t now_ms);
  // A packet left toward leg `leg_index`'s peer.
  void CountSent(int leg_index, size_t bytes, bool is_rtcp) {
    LegCounters& counters = legs_[leg_index].counters;
    ++counters.packets_out;
    counters.bytes_out += bytes;
    counters.rtcp_out += is_rtcp ? 1 : 0;
  }

 private:
  static void OnReadable(uv_poll_t* poll, int status, int events);
  void Drain(int leg_index, Channel channel);
  void ProcessBatch(int leg_index, Channel channel, unsigned received, int64_t now_ms);
  void Flush(int out_leg, int channel);

  // A level-triggered poll callback takes at most this many batches from one socket before
  // yielding to the other sockets of the loop (fairness under flood).
  static constexpr unsigned kBatchesPerWakeup = 4;

  uint32_t id_;
  int family_;
  int64_t negotiated_ms_;
  std::shared_ptr<EnvLoop> env_;
  BatchBuffers* buffers_;
  UringEngine* uring_;
  Leg legs_[2];
};

}  // namespace pinlatch
