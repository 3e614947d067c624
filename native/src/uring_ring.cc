#include "uring_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace pinlatch {

namespace {

// Kernel 6.10 (the first with bundles) is the oldest this relay selects on its own: multishot
// recvmsg with provided buffer rings and IORING_OP_SEND with a destination address (sendto) are
// older, and this feature bit is the cheapest reliable witness that all of them are there.
constexpr uint32_t kFeatRecvSendBundle = 1U << 14;

int SysSetup(unsigned entries, io_uring_params* params) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, params));
}

int SysEnter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0));
}

int SysRegister(int fd, unsigned opcode, void* arg, unsigned count) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, arg, count));
}

template <typename T>
T* At(void* base, uint32_t offset) {
  return reinterpret_cast<T*>(static_cast<uint8_t*>(base) + offset);
}

}  // namespace

std::unique_ptr<UringRing> UringRing::Create(unsigned sq_entries, unsigned cq_entries, unsigned buffers,
                                             size_t buffer_bytes, int* error_errno) {
  *error_errno = 0;
  std::unique_ptr<UringRing> ring(new UringRing());
  io_uring_params params;
  std::memset(&params, 0, sizeof(params));
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                 IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER;
  params.cq_entries = cq_entries;
  ring->fd_ = SysSetup(sq_entries, &params);
  if (ring->fd_ < 0) {
    *error_errno = errno;
    return nullptr;
  }
  // Close-on-exec like every other descriptor of the relay (io_uring_setup has no flag for it).
  fcntl(ring->fd_, F_SETFD, FD_CLOEXEC);
  if ((params.features & IORING_FEAT_SINGLE_MMAP) == 0 || (params.features & kFeatRecvSendBundle) == 0) {
    return nullptr;
  }
  if (!ring->Map(params, error_errno) || !ring->RegisterBuffers(buffers, buffer_bytes, error_errno)) return nullptr;
  return ring;
}

bool UringRing::Map(const io_uring_params& params, int* error_errno) {
  const size_t sq_bytes = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  const size_t cq_bytes = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
  ring_bytes_ = sq_bytes > cq_bytes ? sq_bytes : cq_bytes;
  ring_memory_ = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
  if (ring_memory_ == MAP_FAILED) {
    ring_memory_ = nullptr;
    *error_errno = errno;
    return false;
  }
  sqes_bytes_ = params.sq_entries * sizeof(io_uring_sqe);
  void* sqes = mmap(nullptr, sqes_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) {
    *error_errno = errno;
    return false;
  }
  sqes_ = static_cast<io_uring_sqe*>(sqes);
  sq_head_ = At<unsigned>(ring_memory_, params.sq_off.head);
  sq_tail_shared_ = At<unsigned>(ring_memory_, params.sq_off.tail);
  sq_flags_ = At<unsigned>(ring_memory_, params.sq_off.flags);
  sq_array_ = At<unsigned>(ring_memory_, params.sq_off.array);
  sq_mask_ = *At<unsigned>(ring_memory_, params.sq_off.ring_mask);
  sq_entries_ = params.sq_entries;
  sq_tail_ = submitted_tail_ = *sq_tail_shared_;
  cq_head_ = At<unsigned>(ring_memory_, params.cq_off.head);
  cq_tail_ = At<unsigned>(ring_memory_, params.cq_off.tail);
  cq_mask_ = *At<unsigned>(ring_memory_, params.cq_off.ring_mask);
  cqes_ = At<io_uring_cqe>(ring_memory_, params.cq_off.cqes);
  cq_head_local_ = *cq_head_;
  return true;
}

bool UringRing::RegisterBuffers(unsigned buffers, size_t buffer_bytes, int* error_errno) {
  buffer_count_ = buffers;
  buffer_bytes_ = buffer_bytes;
  buffer_ring_bytes_ = buffers * sizeof(io_uring_buf);
  void* ring = mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (ring == MAP_FAILED) {
    *error_errno = errno;
    return false;
  }
  buffer_ring_ = static_cast<io_uring_buf_ring*>(ring);
  buffer_memory_bytes_ = buffers * buffer_bytes;
  void* memory = mmap(nullptr, buffer_memory_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    *error_errno = errno;
    return false;
  }
  buffer_memory_ = static_cast<uint8_t*>(memory);
  io_uring_buf_reg registration;
  std::memset(&registration, 0, sizeof(registration));
  registration.ring_addr = reinterpret_cast<uint64_t>(buffer_ring_);
  registration.ring_entries = buffers;
  registration.bgid = kBufferGroup;
  if (SysRegister(fd_, IORING_REGISTER_PBUF_RING, &registration, 1) != 0) {
    *error_errno = errno;
    return false;
  }
  for (unsigned id = 0; id < buffers; ++id) Recycle(id);
  CommitBuffers();
  return true;
}

bool UringRing::RegisterFileTable(unsigned slots) {
  io_uring_rsrc_register table;
  std::memset(&table, 0, sizeof(table));
  table.nr = slots;
  table.flags = IORING_RSRC_REGISTER_SPARSE;
  return SysRegister(fd_, IORING_REGISTER_FILES2, &table, sizeof(table)) == 0;
}

bool UringRing::SetFile(unsigned slot, int fd) {
  int32_t value = fd;
  io_uring_files_update update;
  std::memset(&update, 0, sizeof(update));
  update.offset = slot;
  update.fds = reinterpret_cast<uint64_t>(&value);
  return SysRegister(fd_, IORING_REGISTER_FILES_UPDATE, &update, 1) == 1;
}

UringRing::~UringRing() {
  // Closing the ring cancels whatever is still armed; UringEngine cancels its receives first so
  // the sockets are released synchronously.
  if (fd_ >= 0) close(fd_);
  if (sqes_ != nullptr) munmap(sqes_, sqes_bytes_);
  if (ring_memory_ != nullptr) munmap(ring_memory_, ring_bytes_);
  if (buffer_ring_ != nullptr) munmap(buffer_ring_, buffer_ring_bytes_);
  if (buffer_memory_ != nullptr) munmap(buffer_memory_, buffer_memory_bytes_);
}

io_uring_sqe* UringRing::Next() {
  const unsigned head = __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE);
  if (sq_tail_ - head >= sq_entries_) return nullptr;
  const unsigned index = sq_tail_ & sq_mask_;
  sq_array_[index] = index;
  ++sq_tail_;
  io_uring_sqe* sqe = &sqes_[index];
  std::memset(sqe, 0, sizeof(*sqe));
  return sqe;
}

int UringRing::Submit() {
  const unsigned count = Queued();
  __atomic_store_n(sq_tail_shared_, sq_tail_, __ATOMIC_RELEASE);
  submitted_tail_ = sq_tail_;
  for (;;) {
    const int rc = SysEnter(fd_, count, 0, count == 0 ? IORING_ENTER_GETEVENTS : 0);
    if (rc >= 0) return rc;
    if (errno == EINTR) continue;
    return -errno;
  }
}

bool UringRing::TaskWorkPending() const {
  return (__atomic_load_n(sq_flags_, __ATOMIC_RELAXED) & IORING_SQ_TASKRUN) != 0;
}

const io_uring_cqe* UringRing::Peek() {
  if (cq_head_local_ == __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE)) return nullptr;
  return &cqes_[cq_head_local_ & cq_mask_];
}

void UringRing::CommitCompletions() { __atomic_store_n(cq_head_, cq_head_local_, __ATOMIC_RELEASE); }

void UringRing::Recycle(unsigned id) {
  // Entry i is at 16 * i from the start of the ring (the tail overlays entry 0's `resv`). Not
  // buffer_ring_->bufs: the UAPI declares it as a C flexible array behind an empty struct, which
  // is one byte (hence an 8-byte shift) in C++.
  io_uring_buf* slot = reinterpret_cast<io_uring_buf*>(buffer_ring_) + (buffer_tail_ & (buffer_count_ - 1));
  slot->addr = reinterpret_cast<uint64_t>(buffer(id));
  slot->len = static_cast<uint32_t>(buffer_bytes_);
  slot->bid = static_cast<uint16_t>(id);
  ++buffer_tail_;
}

void UringRing::CommitBuffers() { __atomic_store_n(&buffer_ring_->tail, buffer_tail_, __ATOMIC_RELEASE); }

}  // namespace pinlatch
