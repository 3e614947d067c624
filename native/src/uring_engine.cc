#include "uring_engine.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>

#include "monotonic_clock.h"
#include "native_error.h"
#include "stream.h"

namespace pinlatch {

namespace {

// user_data of an SQE: what completed. Receives carry their UringSocket address (user-space
// pointers fit in 47 bits), sends the id of the buffer they send from.
constexpr uint64_t kTagShift = 62;
constexpr uint64_t kTagReceive = 1ULL << kTagShift;
constexpr uint64_t kTagSend = 2ULL << kTagShift;
constexpr uint64_t kTagCancel = 3ULL << kTagShift;
constexpr uint64_t kTagMask = 3ULL << kTagShift;

constexpr unsigned kSubmissionEntries = 4096;
// Room for a completion of every buffer's receive and of its send, plus cancellations.
constexpr unsigned kCompletionEntries = 4 * UringEngine::kBuffers;
// Receive slots (as on the epoll path): a larger datagram is dropped as invalid.
constexpr size_t kMaxDatagram = 2048;
// Registered file table size: enough for every socket a relay can hold (the kernel caps the
// table at RLIMIT_NOFILE, and so is the number of sockets).
constexpr unsigned kMaxFileSlots = 65536;

unsigned FileSlots() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > kMaxFileSlots) return kMaxFileSlots;
  return static_cast<unsigned>(limit.rlim_cur);
}

uint64_t ReceiveTag(const UringSocket* socket) { return kTagReceive | reinterpret_cast<uint64_t>(socket); }

void OnRingPollClosed(uv_handle_t* handle) {
  RingPoll* poll = static_cast<RingPoll*>(handle->data);
  std::shared_ptr<EnvLoop> env = std::move(poll->env);
  delete poll;
  env->OnCloseFinished();
}

}  // namespace

std::unique_ptr<UringEngine> UringEngine::Create(std::shared_ptr<EnvLoop> env, int* error_errno) {
  std::unique_ptr<UringRing> ring =
      UringRing::Create(kSubmissionEntries, kCompletionEntries, kBuffers, kBufferBytes, error_errno);
  if (!ring) return nullptr;
  std::unique_ptr<UringEngine> engine(new UringEngine(std::move(env)));
  engine->ring_ = std::move(ring);
  engine->sends_.resize(kBuffers);
  const unsigned slots = FileSlots();
  if (slots > 0 && engine->ring_->RegisterFileTable(slots)) {
    engine->free_slots_.reserve(slots);
    for (unsigned slot = slots; slot > 0; --slot) engine->free_slots_.push_back(slot - 1);
  }
  // Multishot recvmsg lays out each provided buffer as io_uring_recvmsg_out, then msg_namelen
  // octets of source address, then the payload.
  engine->receive_header_.msg_namelen = SocketAddress::capacity();
  RingPoll* poll = new RingPoll();
  poll->env = engine->env_;
  poll->engine = engine.get();
  int rc = uv_poll_init(engine->env_->loop(), &poll->poll, engine->ring_->fd());
  if (rc != 0) {
    delete poll;
    *error_errno = -rc;
    return nullptr;
  }
  poll->poll.data = poll;
  engine->poll_ = poll;
  rc = uv_poll_start(&poll->poll, UV_READABLE, &UringEngine::OnReadable);
  if (rc != 0) {
    *error_errno = -rc;
    return nullptr;  // the destructor closes the poll handle
  }
  return engine;
}

void UringEngine::Close() {
  if (poll_ != nullptr) {
    poll_->engine = nullptr;
    env_->OnCloseStarted();
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->poll), OnRingPollClosed);
    poll_ = nullptr;
  }
  // Closing the ring cancels what is still armed (streams unwatch their sockets first, so
  // nothing normally is) and no completion is read after this point.
  ring_.reset();
  for (UringSocket* socket : sockets_) delete socket;
  sockets_.clear();
}

io_uring_sqe* UringEngine::Sqe() {
  io_uring_sqe* sqe = ring_->Next();
  if (sqe != nullptr) return sqe;
  ring_->Submit();
  return ring_->Next();
}

void UringEngine::Arm(UringSocket* socket) {
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return;  // stays unarmed; Watch() reports it, Run() retries on the next wake-up
  sqe->opcode = IORING_OP_RECVMSG;
  Target(sqe, socket);
  sqe->addr = reinterpret_cast<uint64_t>(&receive_header_);
  sqe->len = 1;
  sqe->ioprio = IORING_RECV_MULTISHOT;
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = UringRing::kBufferGroup;
  sqe->user_data = ReceiveTag(socket);
  socket->armed = true;
}

void UringEngine::Target(io_uring_sqe* sqe, const UringSocket* socket) {
  if (socket->slot >= 0) {
    sqe->fd = socket->slot;
    sqe->flags |= IOSQE_FIXED_FILE;
  } else {
    sqe->fd = socket->fd;
  }
}

UringSocket* UringEngine::Watch(Stream* stream, int leg, Channel channel, int fd) {
  if (!ring_) throw NativeError(kErrClosed, "the relay is closed");
  UringSocket* socket = new UringSocket();
  socket->stream = stream;
  socket->leg = static_cast<uint8_t>(leg);
  socket->channel = channel;
  socket->fd = fd;
  sockets_.insert(socket);
  if (!free_slots_.empty() && ring_->SetFile(free_slots_.back(), fd)) {
    socket->slot = static_cast<int>(free_slots_.back());
    free_slots_.pop_back();
  }
  Arm(socket);
  if (!socket->armed) {
    if (socket->slot >= 0) ring_->SetFile(static_cast<unsigned>(socket->slot), -1);
    socket->stream = nullptr;
    MaybeFree(socket);
    throw NativeError(kErrSocket, "io_uring submission queue full", EBUSY, "io_uring_enter");
  }
  return socket;
}

void UringEngine::Unwatch(UringSocket* socket) {
  socket->stream = nullptr;
  if (socket->armed && ring_) {
    io_uring_sqe* sqe = Sqe();
    if (sqe != nullptr) {
      sqe->opcode = IORING_OP_ASYNC_CANCEL;
      sqe->fd = -1;
      sqe->addr = ReceiveTag(socket);
      sqe->user_data = kTagCancel;
    }
  }
  if (socket->slot >= 0) slots_to_clear_.push_back(static_cast<unsigned>(socket->slot));
  MaybeFree(socket);
}

void UringEngine::Flush() {
  if (!ring_) return;
  // The cancellation completes through task work, which runs before io_uring_enter returns to
  // user space; after that the request has dropped its reference to the socket. Then the file
  // table lets go of it too, and the caller's close() releases the port.
  ring_->Submit();
  for (unsigned slot : slots_to_clear_) ring_->SetFile(slot, -1);
  slots_to_clear_.clear();
}

void UringEngine::MaybeFree(UringSocket* socket) {
  if (socket->stream != nullptr || socket->armed || socket->sends_in_flight != 0) return;
  // The slot is reused only now: no request names it any more.
  if (socket->slot >= 0) free_slots_.push_back(static_cast<unsigned>(socket->slot));
  sockets_.erase(socket);
  delete socket;
}

void UringEngine::OnReadable(uv_poll_t* handle, int, int) {
  RingPoll* poll = static_cast<RingPoll*>(handle->data);
  if (poll->engine == nullptr) return;
  // Commands pushed before these packets arrived (a leg's policy) apply to them; closed streams
  // are unwatched first, and their late completions are dropped as for any unwatched socket.
  poll->env->ApplyCommands();
  if (poll->engine != nullptr) poll->engine->Run();
}

void UringEngine::Run() {
  for (unsigned round = 0; round < kRoundsPerWakeup && ring_; ++round) {
    // One clock read per round of completions (the latch works in milliseconds).
    const int64_t now_ms = MonotonicMs();
    while (const io_uring_cqe* peeked = ring_->Peek()) {
      const io_uring_cqe cqe = *peeked;
      ring_->Advance();
      switch (cqe.user_data & kTagMask) {
        case kTagReceive:
          OnReceive(reinterpret_cast<UringSocket*>(cqe.user_data & ~kTagMask), cqe, now_ms);
          break;
        case kTagSend:
          OnSend(static_cast<unsigned>(cqe.user_data & 0xffff), cqe.res);
          break;
        default:
          break;  // cancellation results: the cancelled receive completes on its own
      }
    }
    ring_->CommitCompletions();
    ring_->CommitBuffers();
    // Nothing to send and no receive waiting to run as task work: the next packet wakes the
    // loop again. Otherwise one io_uring_enter sends everything queued and collects what arrived.
    if (ring_->Queued() == 0 && !ring_->TaskWorkPending()) return;
    ring_->Submit();
  }
}

void UringEngine::OnReceive(UringSocket* socket, const io_uring_cqe& cqe, int64_t now_ms) {
  if ((cqe.flags & IORING_CQE_F_MORE) == 0) {
    // The multishot receive ended: cancelled, out of buffers (ENOBUFS) or a socket error.
    socket->armed = false;
    if (socket->stream != nullptr) Arm(socket);
  }
  if ((cqe.flags & IORING_CQE_F_BUFFER) == 0) {
    MaybeFree(socket);
    return;
  }
  const unsigned buffer_id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
  Stream* stream = socket->stream;
  if (cqe.res < 0 || stream == nullptr) {
    ring_->Recycle(buffer_id);
    MaybeFree(socket);
    return;
  }
  uint8_t* buffer = ring_->buffer(buffer_id);
  io_uring_recvmsg_out header;
  std::memcpy(&header, buffer, sizeof(header));
  const uint8_t* name = buffer + sizeof(header);
  uint8_t* payload = buffer + sizeof(header) + receive_header_.msg_namelen;
  SocketAddress source;
  std::memcpy(source.mutable_sa(), name, std::min<size_t>(header.namelen, SocketAddress::capacity()));
  const size_t length = header.payloadlen;
  const bool truncated = (header.flags & MSG_TRUNC) != 0 || length > kMaxDatagram;
  const Stream::Forward forward = stream->Admit(socket->leg, socket->channel, payload, length, truncated, source, now_ms);
  UringSocket* out = forward.to == nullptr ? nullptr : stream->leg(forward.out_leg).watches[static_cast<int>(forward.via)];
  io_uring_sqe* sqe = out == nullptr ? nullptr : Sqe();
  if (sqe == nullptr) {
    ring_->Recycle(buffer_id);
    return;
  }
  // sendto from the receive buffer: the kernel copies the destination address when the SQE is
  // submitted (before this round ends), and the buffer goes back to the ring when the send
  // completes. MSG_DONTWAIT: a full socket buffer fails the send (counted) instead of queueing
  // real-time media behind it.
  sqe->opcode = IORING_OP_SEND;
  Target(sqe, out);
  sqe->addr = reinterpret_cast<uint64_t>(payload);
  sqe->len = static_cast<uint32_t>(length);
  sqe->msg_flags = MSG_DONTWAIT;
  sqe->addr2 = reinterpret_cast<uint64_t>(forward.to->sa());
  sqe->addr_len = static_cast<uint16_t>(forward.to->length());
  sqe->user_data = kTagSend | buffer_id;
  sends_[buffer_id] = SendRecord{out, forward.is_rtcp};
  ++out->sends_in_flight;
}

void UringEngine::OnSend(unsigned buffer_id, int result) {
  SendRecord& record = sends_[buffer_id];
  UringSocket* out = record.out;
  record.out = nullptr;
  ring_->Recycle(buffer_id);
  if (out == nullptr) return;
  if (out->stream != nullptr) {
    if (result >= 0) {
      out->stream->CountSent(out->leg, static_cast<size_t>(result), record.is_rtcp);
    } else {
      ++out->stream->leg(out->leg).counters.drop_send_error;
    }
  }
  --out->sends_in_flight;
  MaybeFree(out);
}

}  // namespace pinlatch
