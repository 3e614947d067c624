#include "udp_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "native_error.h"

namespace pinlatch {

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

void UdpSocket::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

UdpSocket UdpSocket::Open(int family, const SocketBufferSizes& buffers) {
  int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    int err = errno;
    throw NativeError(kErrSocket, "socket() failed", err, "socket");
  }
  UdpSocket socket(fd);
  ApplySocketBuffers(fd, buffers);
  if (family == AF_INET6) {
    // The stream serves exactly the family of its bind address; never accept v4-mapped peers on a
    // v6 socket (they would bypass the v4 address rule of the latch).
    int on = 1;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) {
      int err = errno;
      throw NativeError(kErrSocket, "setsockopt(IPV6_V6ONLY) failed", err, "setsockopt");
    }
  }
  return socket;
}

void UdpSocket::BindTo(const SocketAddress& local) {
  if (::bind(fd_, local.sa(), local.length()) != 0) {
    int err = errno;
    throw NativeError(kErrBind, "bind " + local.ToString() + " failed", err, "bind");
  }
}

}  // namespace pinlatch
