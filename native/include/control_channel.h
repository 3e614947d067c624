// ControlChannel: how the main thread opens, sets up and closes streams of a relay that runs on
// another thread (a media shard's worker) without waking that thread's JavaScript.
//
// Issue 12: a MessagePort round trip per offer and answer woke the shard's JS (message event,
// JSON, N-API calls, reply) and then the main thread's; confined to one CPU the woken shard
// preempted the main thread. Now the main thread binds a stream's four sockets itself (socket()
// and bind() do not care which thread calls them, so bind errors are thrown synchronously to the
// caller), takes the stream id from this channel, and pushes commands (open with the bound
// sockets, set a leg's parsed policy, close) onto a mutex-guarded queue. The worker's loop applies
// them in C++ (Relay::DrainCommands) on every iteration it makes anyway (packets, its timers) and
// when Wake() (uv_async_send) wakes it. Pushing does not wake: on one CPU each wake-up preempts the
// pushing thread (a profile of the main thread at 400 calls/s showed an uv_async_send per command
// costing as much as the postMessage it replaced), so the caller wakes the worker once for
// whatever it pushed within a short deadline (ShardPool), and a busy worker needs no wake at all.
//
// Ownership: the worker's Relay and every main-thread RelayControl share the channel. The relay
// attaches its uv_async_t and detaches it (Close) before closing it on its own loop, under the
// same mutex that Wake holds while it calls uv_async_send, so a wake never touches a closed
// handle. After Close, pushes throw ERR_PINLATCH_CLOSED and the commands' sockets are closed by
// their owners (the caller's vector, or the queue that Close hands back): no descriptor leaks.
//
// A process-wide registry maps a relay's numeric token to its channel (weak), so that the main
// thread can find the channel of a relay created in a worker (addon.connect(token)). It is the
// addon's only state shared between environments; an entry lives as long as its relay is open.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "latch_state.h"
#include "socket_buffers.h"
#include "spare_sockets.h"
#include "stream.h"

namespace pinlatch {

struct ControlCommand {
  enum class Kind : uint8_t { kOpen, kSetLeg, kClose };
  Kind kind = Kind::kClose;
  uint32_t id = 0;
  // kSetLeg: 0 = leg A, 1 = leg B, and its policy (already checked against the stream's family).
  uint8_t leg = 0;
  LatchPolicy policy;
  // kOpen: the four bound sockets, owned by the command until the relay takes them.
  std::unique_ptr<StreamSockets> sockets;
};

class ControlChannel : public std::enable_shared_from_this<ControlChannel> {
 public:
  // Commands waiting for the worker at most. The worker drains the queue on every wake-up of its
  // loop; reaching this means that loop is stuck, and the caller gets an error instead of memory
  // growing without bound.
  static constexpr size_t kMaxPending = 65536;
  // Open streams whose address family the channel remembers (setLeg checks policies against it)
  // at most: far above what a shard's port range can hold.
  static constexpr size_t kMaxStreams = 1 << 20;

  explicit ControlChannel(const SocketBufferSizes& socket_buffers);
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  uint32_t token() const { return token_; }
  const SocketBufferSizes& socket_buffers() const { return socket_buffers_; }
  // Sockets the worker makes ahead for the streams the main thread opens (SpareSockets).
  SpareSockets& spares() { return spares_; }
  // Stream ids of the relay, unique whichever thread opens the stream. Never 0.
  uint32_t NextStreamId();

  // Any thread: queues `commands` (in order); they wait for the worker's next loop iteration or
  // the next Wake(). kOpen commands record their
  // stream's family, kClose commands forget it. Throws NativeError (ERR_PINLATCH_CLOSED once the
  // relay is closed; ERR_PINLATCH_SOCKET/EAGAIN when the queue is full); then nothing was queued
  // and `commands` still owns its sockets.
  void Push(std::vector<ControlCommand>& commands);
  // Any thread: wakes the worker's loop if commands are waiting (no-op once the relay is closed).
  void Wake();
  // Family (AF_INET/AF_INET6) of an open stream, or 0 when unknown or closed.
  int StreamFamily(uint32_t id) const;
  // The worker's own opens and closes (restore, tests) keep the family table current too.
  void NoteStream(uint32_t id, int family);
  void ForgetStream(uint32_t id);

  // Worker: every queued command, in push order (without locking when there is none).
  std::vector<ControlCommand> Take();
  // Worker: the handle to uv_async_send on each push. Registers the channel under its token.
  void Attach(uv_async_t* wake);
  // Worker: no more pushes; returns what was still queued (its sockets close when it is dropped)
  // and unregisters the token. Idempotent. After it returns no thread uses the attached handle.
  std::vector<ControlCommand> Close();

  // The channel of an open relay, or nullptr.
  static std::shared_ptr<ControlChannel> Find(uint32_t token);

 private:
  const uint32_t token_;
  const SocketBufferSizes socket_buffers_;
  SpareSockets spares_;
  std::atomic<uint32_t> next_id_{1};
  mutable std::mutex mutex_;
  std::vector<ControlCommand> queue_;
  // queue_ is not empty; read without the mutex by the worker's every loop iteration.
  std::atomic<bool> pending_{false};
  std::unordered_map<uint32_t, uint8_t> families_;
  uv_async_t* wake_ = nullptr;
  bool closed_ = false;
};

}  // namespace pinlatch
