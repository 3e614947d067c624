// BatchBuffers: the receive/send arrays one relay reuses for every recvmmsg/sendmmsg batch.
// Packets are received into fixed slots and sent from the same memory (zero copy between the
// two legs); only the destination address and length differ on the way out.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "rtp_check.h"
#include "socket_address.h"

namespace pinlatch {

class BatchBuffers {
 public:
  // Datagrams larger than a slot are truncated by the kernel (MSG_TRUNC) and dropped as invalid.
  // 2 KiB covers any RTP packet that fits a 1500-octet Ethernet MTU, with room for SRTP tags.
  static constexpr size_t kSlotBytes = 2048;
  static constexpr unsigned kDefaultBatch = 64;
  static constexpr unsigned kMaxBatch = 1024;

  explicit BatchBuffers(unsigned batch);

  unsigned batch() const { return batch_; }
  uint8_t* slot(unsigned i) { return data_.get() + static_cast<size_t>(i) * kSlotBytes; }

  // Receive side: the recvmmsg array. The kernel rewrites msg_namelen of each filled entry, so
  // Rearm(n) restores the first n entries after a batch of n.
  mmsghdr* receive() { return receive_.data(); }
  void Rearm(unsigned n);
  const SocketAddress& source(unsigned i) const { return sources_[i]; }

  // Send side: one queue per outgoing socket of the other leg (RTP socket, RTCP socket).
  struct SendQueue {
    std::vector<mmsghdr> messages;
    std::vector<iovec> iov;
    std::vector<uint8_t> is_rtcp;
    unsigned count = 0;
  };
  SendQueue& queue(int channel) { return queues_[channel]; }
  void Enqueue(int channel, unsigned slot_index, size_t length, const SocketAddress& to, bool is_rtcp);

 private:
  unsigned batch_;
  std::unique_ptr<uint8_t[]> data_;
  std::vector<mmsghdr> receive_;
  std::vector<iovec> receive_iov_;
  std::vector<SocketAddress> sources_;
  SendQueue queues_[2];
};

}  // namespace pinlatch
