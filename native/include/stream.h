// Stream: one relayed media stream = two legs (A, B), each with an RTP socket on an even port and
// an RTCP socket on the next port (both always open, so rtcp-mux can be switched per leg). What
// arrives on one leg leaves through the other leg's socket toward that leg's peer. Readiness comes
// from uv_poll on the environment's loop; the callback drains the socket in recvmmsg batches and
// forwards each batch with one sendmmsg per outgoing socket, without entering JavaScript.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>

#include "batch_buffers.h"
#include "env_loop.h"
#include "latch_state.h"
#include "leg_counters.h"
#include "socket_address.h"
#include "udp_socket.h"

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

class Stream {
 public:
  struct Leg {
    LatchState latch;
    LegCounters counters;
    UdpSocket sockets[2];
    PollHandle* polls[2] = {nullptr, nullptr};
  };

  // Binds the four sockets and starts polling them. Throws NativeError; on failure nothing stays
  // open.
  Stream(uint32_t id, std::shared_ptr<EnvLoop> env, BatchBuffers* buffers, const SocketAddress& local,
         uint16_t a_port, uint16_t b_port);
  ~Stream() { Close(); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uint32_t id() const { return id_; }
  int family() const { return family_; }
  int64_t opened_ms() const { return opened_ms_; }
  Leg& leg(int index) { return legs_[index]; }
  const Leg& leg(int index) const { return legs_[index]; }
  // Last valid packet on either leg, or the opening time when there was none.
  int64_t LastActivityMs() const;

  // Stops polling and closes every socket. Idempotent.
  void Close();

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
  int64_t opened_ms_;
  std::shared_ptr<EnvLoop> env_;
  BatchBuffers* buffers_;
  Leg legs_[2];
};

}  // namespace pinlatch
