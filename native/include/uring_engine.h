// UringEngine: the io_uring data path of one relay (one worker environment). Every socket of
// every stream has one multishot recvmsg armed on a single ring, receiving into provided buffers;
// each accepted packet leaves as an IORING_OP_SEND (with the destination address, i.e. sendto)
// straight from the buffer it arrived in. One uv_poll on the ring's descriptor wakes the
// environment's libuv loop; a wake-up then reaps the packets of *all* ready sockets and submits
// all their sends with one io_uring_enter per round, where the epoll path needs a recvmmsg and a
// sendmmsg per socket (and per-socket poll dispatch). docs/latching.md, "Data-plane design".
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include "env_loop.h"
#include "latch_state.h"
#include "uring_ring.h"

namespace pinlatch {

class Stream;
class UringEngine;

// One watched socket. Owned by the engine: it outlives its stream until its receive has
// completed for good and no send from it is in flight, so a late completion never touches a
// closed stream.
struct UringSocket {
  Stream* stream = nullptr;  // nullptr once the stream let go of it
  uint8_t leg = 0;
  Channel channel = Channel::kRtpSocket;
  int fd = -1;
  // Slot in the ring's registered file table, or -1 (named by descriptor).
  int slot = -1;
  bool armed = false;
  unsigned sends_in_flight = 0;
};

// The uv_poll on the ring descriptor; freed by its close callback (see PollHandle in stream.h).
struct RingPoll {
  uv_poll_t poll;
  std::shared_ptr<EnvLoop> env;
  UringEngine* engine = nullptr;
};

class UringEngine {
 public:
  // nullptr when io_uring cannot be used here; *error_errno says why (0: missing feature).
  static std::unique_ptr<UringEngine> Create(std::shared_ptr<EnvLoop> env, int* error_errno);
  ~UringEngine() { Close(); }
  UringEngine(const UringEngine&) = delete;
  UringEngine& operator=(const UringEngine&) = delete;

  // Arms the receive of one socket (handed to the kernel at the next Flush()). Throws NativeError
  // when the submission queue cannot take it.
  UringSocket* Watch(Stream* stream, int leg, Channel channel, int fd);
  // Cancels the receive and empties the socket's file-table slot (at the next Flush(), which must
  // come before the next Watch()); the stream must not use `socket` afterwards.
  void Unwatch(UringSocket* socket);
  // Hands queued receives/cancellations to the kernel and empties the slots of unwatched sockets.
  // When it returns, nothing in the ring holds those sockets any more, so the caller may close
  // the descriptors and the ports are free.
  void Flush();

  // Stops the ring poll, closes the ring and frees every socket record. Idempotent.
  void Close();

  // Receive slots: a 2 KiB datagram plus the recvmsg header and the source address.
  static constexpr unsigned kBuffers = 4096;
  static constexpr size_t kBufferBytes = 2048 + 64;
  // Completions are reaped and sends submitted in rounds; a wake-up takes at most this many
  // rounds before yielding to the rest of the loop (JS control calls, timers).
  static constexpr unsigned kRoundsPerWakeup = 16;

 private:
  explicit UringEngine(std::shared_ptr<EnvLoop> env) : env_(std::move(env)) {}
  static void OnReadable(uv_poll_t* handle, int status, int events);
  void Run();
  io_uring_sqe* Sqe();
  void Arm(UringSocket* socket);
  void OnReceive(UringSocket* socket, const io_uring_cqe& cqe, int64_t now_ms);
  void OnSend(unsigned buffer_id, int result);
  void MaybeFree(UringSocket* socket);
  // Names the socket in an SQE: its registered slot (IOSQE_FIXED_FILE) or its descriptor.
  static void Target(io_uring_sqe* sqe, const UringSocket* socket);

  struct SendRecord {
    UringSocket* out = nullptr;
    bool is_rtcp = false;
  };

  std::shared_ptr<EnvLoop> env_;
  std::unique_ptr<UringRing> ring_;
  RingPoll* poll_ = nullptr;
  msghdr receive_header_{};
  // Indexed by buffer id: the send that currently owns the buffer.
  std::vector<SendRecord> sends_;
  std::unordered_set<UringSocket*> sockets_;
  // Free slots of the registered file table (empty when there is no table).
  std::vector<unsigned> free_slots_;
  // Slots of unwatched sockets, emptied in the table by the next Flush() (after the cancellation).
  std::vector<unsigned> slots_to_clear_;
};

}  // namespace pinlatch
