// UringRing: a minimal io_uring (raw syscalls, <linux/io_uring.h>; no liburing dependency) with
// one ring of provided receive buffers. It knows nothing about RTP: UringEngine drives it.
//
// Set up with COOP_TASKRUN | TASKRUN_FLAG | SINGLE_ISSUER: completions of armed multishot
// receives are produced by task work of the owning thread, which runs whenever that thread
// enters the kernel (any io_uring_enter, or the libuv epoll_wait it sleeps in), and the kernel
// raises IORING_SQ_TASKRUN in the shared SQ flags while such work is pending, so the owner can
// tell without a system call whether entering the kernel would produce more completions.
#pragma once

#include <linux/io_uring.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace pinlatch {

class UringRing {
 public:
  // Returns nullptr when io_uring or one of the features the relay needs is not available
  // (old kernel, seccomp, io_uring_disabled sysctl...); *error_errno tells why (0 = feature).
  static std::unique_ptr<UringRing> Create(unsigned sq_entries, unsigned cq_entries, unsigned buffers,
                                           size_t buffer_bytes, int* error_errno);
  ~UringRing();
  UringRing(const UringRing&) = delete;
  UringRing& operator=(const UringRing&) = delete;

  int fd() const { return fd_; }

  // Submission side. Next() returns a zeroed SQE, or nullptr when the queue is full (Submit
  // first). Queued() counts SQEs not yet handed to the kernel.
  io_uring_sqe* Next();
  unsigned Queued() const { return sq_tail_ - submitted_tail_; }
  // io_uring_enter: hands the queued SQEs to the kernel (returns their count or -errno).
  // Sends and cancellations are issued inline, before this returns; pending task work
  // (receives that became ready) runs before it returns to user space too.
  int Submit();
  bool TaskWorkPending() const;

  // Completion side: Peek() returns the oldest unseen CQE or nullptr; Advance() consumes it.
  const io_uring_cqe* Peek();
  void Advance() { ++cq_head_local_; }
  // Publishes consumed CQEs to the kernel (frees CQ space).
  void CommitCompletions();

  // Registered file table (sparse): a socket in slot i is named by i with IOSQE_FIXED_FILE, which
  // spares the kernel a descriptor lookup and a file reference per operation. Returns false when
  // the kernel refuses a table (the engine then names sockets by descriptor).
  bool RegisterFileTable(unsigned slots);
  // Puts `fd` (or -1: empty) into slot `slot`. Returns false on failure.
  bool SetFile(unsigned slot, int fd);

  // Provided buffers (buffer group 0): `buffers` slots of `buffer_bytes`, all given to the
  // kernel at creation. A receive completion names its slot; Recycle() gives it back.
  static constexpr uint16_t kBufferGroup = 0;
  uint8_t* buffer(unsigned id) { return buffer_memory_ + static_cast<size_t>(id) * buffer_bytes_; }
  size_t buffer_bytes() const { return buffer_bytes_; }
  unsigned buffer_count() const { return buffer_count_; }
  void Recycle(unsigned id);
  // Publishes recycled buffers to the kernel.
  void CommitBuffers();

 private:
  UringRing() = default;
  bool Map(const io_uring_params& params, int* error_errno);
  bool RegisterBuffers(unsigned buffers, size_t buffer_bytes, int* error_errno);

  int fd_ = -1;
  // Shared ring memory.
  void* ring_memory_ = nullptr;
  size_t ring_bytes_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_bytes_ = 0;
  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_shared_ = nullptr;
  unsigned* sq_flags_ = nullptr;
  unsigned* sq_array_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned sq_entries_ = 0;
  unsigned sq_tail_ = 0;
  unsigned submitted_tail_ = 0;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  unsigned cq_head_local_ = 0;

  // Provided buffer ring (IORING_REGISTER_PBUF_RING) and the slots it hands out.
  io_uring_buf_ring* buffer_ring_ = nullptr;
  size_t buffer_ring_bytes_ = 0;
  uint8_t* buffer_memory_ = nullptr;
  size_t buffer_memory_bytes_ = 0;
  size_t buffer_bytes_ = 0;
  unsigned buffer_count_ = 0;
  uint16_t buffer_tail_ = 0;
};

}  // namespace pinlatch
