// SocketBufferSizes: the kernel buffer sizes (SO_RCVBUF/SO_SNDBUF) every stream socket asks for,
// and the sizes the kernel actually granted. Linux silently caps a request at
// net.core.rmem_max / net.core.wmem_max (socket(7)); pinlatch does not override that cap with
// SO_RCVBUFFORCE even when it could (CAP_NET_ADMIN): the sysctl is the administrator's memory
// policy, so the relay reads the granted size back and reports the shortfall instead.
#pragma once

namespace pinlatch {

struct SocketBufferSizes {
  // 256 KiB absorbs ~170 full-size packets, i.e. a few milliseconds of a busy stream while the
  // worker's loop is elsewhere; memory is only used when packets actually queue.
  int receive_bytes = 256 * 1024;
  int send_bytes = 256 * 1024;
};

// Smallest and largest request accepted (the kernel's own floor is about 2 KiB; 256 MiB is far
// beyond any sane per-socket queue and keeps the doubled value below INT_MAX).
inline constexpr int kMinSocketBufferBytes = 4096;
inline constexpr int kMaxSocketBufferBytes = 256 * 1024 * 1024;

// setsockopt(SO_RCVBUF, SO_SNDBUF). Throws NativeError ERR_PINLATCH_SOCKET on failure.
void ApplySocketBuffers(int fd, const SocketBufferSizes& sizes);

// The sizes the kernel granted to `fd`: getsockopt reports twice the usable size (the kernel
// doubles the request for its bookkeeping overhead, socket(7)), so this halves it back.
SocketBufferSizes ReadSocketBuffers(int fd);

// What a UDP socket gets for `sizes` right now: a throwaway socket is configured and read back.
SocketBufferSizes ProbeSocketBuffers(const SocketBufferSizes& sizes);

}  // namespace pinlatch
