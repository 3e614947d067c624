#include "batch_buffers.h"

#include <cstring>

namespace pinlatch {

BatchBuffers::BatchBuffers(unsigned batch)
    : batch_(batch),
      data_(new uint8_t[static_cast<size_t>(batch) * kSlotBytes]),
      receive_(batch),
      receive_iov_(batch),
      sources_(batch) {
  for (SendQueue& queue : queues_) {
    queue.messages.resize(batch);
    queue.iov.resize(batch);
    queue.is_rtcp.resize(batch);
  }
  std::memset(receive_.data(), 0, sizeof(mmsghdr) * batch);
  for (unsigned i = 0; i < batch_; ++i) {
    receive_iov_[i].iov_base = slot(i);
    receive_iov_[i].iov_len = kSlotBytes;
    msghdr& header = receive_[i].msg_hdr;
    header.msg_name = sources_[i].mutable_sa();
    header.msg_namelen = SocketAddress::capacity();
    header.msg_iov = &receive_iov_[i];
    header.msg_iovlen = 1;
    header.msg_control = nullptr;
    header.msg_controllen = 0;
  }
}

void BatchBuffers::Rearm(unsigned n) {
  for (unsigned i = 0; i < n; ++i) receive_[i].msg_hdr.msg_namelen = SocketAddress::capacity();
}

void BatchBuffers::Enqueue(int channel, unsigned slot_index, size_t length, const SocketAddress& to, bool is_rtcp) {
  SendQueue& queue = queues_[channel];
  const unsigned n = queue.count++;
  queue.iov[n].iov_base = slot(slot_index);
  queue.iov[n].iov_len = length;
  msghdr& header = queue.messages[n].msg_hdr;
  // sendmmsg only reads the address; the latch state it points into does not change while the
  // batch is being sent (it belongs to the other leg).
  header.msg_name = const_cast<sockaddr*>(to.sa());
  header.msg_namelen = to.length();
  header.msg_iov = &queue.iov[n];
  header.msg_iovlen = 1;
  header.msg_control = nullptr;
  header.msg_controllen = 0;
  header.msg_flags = 0;
  queue.messages[n].msg_len = 0;
  queue.is_rtcp[n] = is_rtcp ? 1 : 0;
}

}  // namespace pinlatch
