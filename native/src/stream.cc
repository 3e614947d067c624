#include "stream.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "monotonic_clock.h"
#include "native_error.h"
#include "rtp_check.h"

namespace pinlatch {

namespace {

void OnPollClosed(uv_handle_t* handle) {
  PollHandle* poll = static_cast<PollHandle*>(handle->data);
  std::shared_ptr<EnvLoop> env = std::move(poll->env);
  delete poll;
  env->OnCloseFinished();
}

// uv_close() stops the watcher synchronously (libuv removes the fd from epoll before returning),
// so the descriptor can be closed right away; only the handle memory waits for the callback.
void ClosePoll(PollHandle* poll) {
  poll->env->OnCloseStarted();
  uv_close(reinterpret_cast<uv_handle_t*>(&poll->poll), OnPollClosed);
}

}  // namespace

std::unique_ptr<StreamSockets> StreamSockets::Bind(const SocketAddress& local, uint16_t a_port, uint16_t b_port,
                                                   SpareSockets& spares) {
  auto bound = std::make_unique<StreamSockets>();
  bound->family = local.family();
  const uint16_t ports[2] = {a_port, b_port};
  // A failure here unwinds through the UdpSocket destructors.
  for (int leg = 0; leg < 2; ++leg) {
    for (int channel = 0; channel < 2; ++channel) {
      SocketAddress address = local;
      address.set_port(static_cast<uint16_t>(ports[leg] + channel));
      UdpSocket& socket = bound->sockets[leg][channel];
      socket = spares.Take(local.family());
      socket.BindTo(address);
    }
  }
  return bound;
}

Stream::Stream(uint32_t id, std::shared_ptr<EnvLoop> env, BatchBuffers* buffers, UringEngine* uring, StreamSockets&& sockets)
    : id_(id),
      family_(sockets.family),
      negotiated_ms_(MonotonicMs()),
      env_(std::move(env)),
      buffers_(buffers),
      uring_(uring) {
  for (int leg = 0; leg < 2; ++leg) {
    for (int channel = 0; channel < 2; ++channel) legs_[leg].sockets[channel] = std::move(sockets.sockets[leg][channel]);
  }
  if (uring_ != nullptr) {
    try {
      for (int leg = 0; leg < 2; ++leg) {
        for (int channel = 0; channel < 2; ++channel) {
          legs_[leg].watches[channel] =
              uring_->Watch(this, leg, static_cast<Channel>(channel), legs_[leg].sockets[channel].fd());
        }
      }
      uring_->Flush();
    } catch (...) {
      Close();
      throw;
    }
    return;
  }
  for (int leg = 0; leg < 2; ++leg) {
    for (int channel = 0; channel < 2; ++channel) {
      PollHandle* poll = new PollHandle();
      poll->env = env_;
      poll->stream = this;
      poll->leg = static_cast<uint8_t>(leg);
      poll->channel = static_cast<Channel>(channel);
      int rc = uv_poll_init_socket(env_->loop(), &poll->poll, legs_[leg].sockets[channel].fd());
      if (rc != 0) {
        delete poll;
        Close();
        throw NativeError(kErrSocket, "uv_poll_init_socket failed", -rc, "uv_poll_init_socket");
      }
      poll->poll.data = poll;
      legs_[leg].polls[channel] = poll;
      rc = uv_poll_start(&poll->poll, UV_READABLE, &Stream::OnReadable);
      if (rc != 0) {
        Close();
        throw NativeError(kErrSocket, "uv_poll_start failed", -rc, "uv_poll_start");
      }
    }
  }
}

void Stream::Close() {
  bool cancelled = false;
  for (Leg& leg : legs_) {
    for (int channel = 0; channel < 2; ++channel) {
      if (leg.polls[channel] != nullptr) {
        ClosePoll(leg.polls[channel]);
        leg.polls[channel] = nullptr;
      }
      if (leg.watches[channel] != nullptr) {
        uring_->Unwatch(leg.watches[channel]);
        leg.watches[channel] = nullptr;
        cancelled = true;
      }
    }
  }
  // The cancellations must reach the kernel before the descriptors close: an armed receive holds
  // its socket, and the port has to be free when closeStream() returns.
  if (cancelled) uring_->Flush();
  for (Leg& leg : legs_) {
    for (UdpSocket& socket : leg.sockets) socket.Close();
  }
}

int64_t Stream::LastActivityMs() const {
  return std::max({negotiated_ms_, legs_[0].latch.last_activity_ms(), legs_[1].latch.last_activity_ms()});
}

void Stream::Negotiated() { negotiated_ms_ = MonotonicMs(); }

void Stream::OnReadable(uv_poll_t* handle, int status, int events) {
  PollHandle* poll = static_cast<PollHandle*>(handle->data);
  poll->env->ApplyCommands();
  // A close command may have closed this very stream: its handle is closing, the Stream is gone.
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(handle))) return;
  // An error status still means "try the socket": recvmmsg reports (and clears) the error.
  poll->stream->Drain(poll->leg, poll->channel);
}

void Stream::Drain(int leg_index, Channel channel) {
  const int fd = legs_[leg_index].sockets[static_cast<int>(channel)].fd();
  const unsigned batch = buffers_->batch();
  for (unsigned round = 0; round < kBatchesPerWakeup; ++round) {
    const int received = recvmmsg(fd, buffers_->receive(), batch, MSG_DONTWAIT, nullptr);
    if (received <= 0) break;  // EAGAIN: drained; other errors: nothing to forward this time.
    ProcessBatch(leg_index, channel, static_cast<unsigned>(received), MonotonicMs());
    buffers_->Rearm(static_cast<unsigned>(received));
    if (static_cast<unsigned>(received) < batch) break;
  }
}

Stream::Forward Stream::Admit(int leg_index, Channel channel, const uint8_t* data, size_t length, bool truncated,
                              const SocketAddress& source, int64_t now_ms) {
  Forward forward;
  Leg& in = legs_[leg_index];
  if (truncated) {
    ++in.counters.drop_invalid;
    return forward;
  }
  const PacketInfo info = channel == Channel::kRtpSocket ? ClassifyOnRtpSocket(data, length) : CheckRtcp(data, length);
  if (info.kind == PacketKind::kInvalid) {
    ++in.counters.drop_invalid;
    return forward;
  }
  const bool is_rtcp = info.kind == PacketKind::kRtcp;
  const Verdict verdict = is_rtcp ? in.latch.OnRtcp(channel, source, info.ssrc, now_ms)
                                  : in.latch.OnRtp(source, info.ssrc, info.seq, now_ms);
  if (verdict != Verdict::kAccept) {
    ++in.counters.drop_stranger;
    return forward;
  }
  ++in.counters.packets_in;
  in.counters.bytes_in += length;
  if (is_rtcp) ++in.counters.rtcp_in;
  forward.out_leg = 1 - leg_index;
  Leg& out = legs_[forward.out_leg];
  forward.is_rtcp = is_rtcp;
  forward.to = is_rtcp ? out.latch.RtcpDestination(&forward.via) : out.latch.RtpDestination();
  if (forward.to == nullptr) ++out.counters.drop_no_peer;
  return forward;
}

void Stream::ProcessBatch(int leg_index, Channel channel, unsigned received, int64_t now_ms) {
  mmsghdr* messages = buffers_->receive();
  const int out_index = 1 - leg_index;
  for (unsigned i = 0; i < received; ++i) {
    const size_t length = messages[i].msg_len;
    const bool truncated = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    const Forward forward =
        Admit(leg_index, channel, buffers_->slot(i), length, truncated, buffers_->source(i), now_ms);
    if (forward.to != nullptr) {
      buffers_->Enqueue(static_cast<int>(forward.via), i, length, *forward.to, forward.is_rtcp);
    }
  }
  Flush(out_index, static_cast<int>(Channel::kRtpSocket));
  Flush(out_index, static_cast<int>(Channel::kRtcpSocket));
}

void Stream::Flush(int out_index, int channel) {
  BatchBuffers::SendQueue& queue = buffers_->queue(channel);
  const unsigned count = queue.count;
  if (count == 0) return;
  queue.count = 0;
  Leg& out = legs_[out_index];
  const int fd = out.sockets[channel].fd();
  unsigned done = 0;
  while (done < count) {
    const int sent = sendmmsg(fd, queue.messages.data() + done, count - done, MSG_DONTWAIT);
    if (sent > 0) {
      for (unsigned i = done; i < done + static_cast<unsigned>(sent); ++i) {
        CountSent(out_index, queue.iov[i].iov_len, queue.is_rtcp[i] != 0);
      }
      done += static_cast<unsigned>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Socket buffer full: waiting for writability would delay everything behind it; real-time
      // media is better dropped (and counted) than queued.
      out.counters.drop_send_error += count - done;
      break;
    }
    // The first remaining message failed (unreachable, EPERM...): drop it, send the rest.
    ++out.counters.drop_send_error;
    ++done;
  }
}

}  // namespace pinlatch
