// UdpSocket: owns one non-blocking, close-on-exec UDP socket, bound to a local address once
// BindTo returns. Move-only; the destructor closes the descriptor, so a stream that fails half-way
// through opening its four sockets leaves nothing open.
#pragma once

#include "socket_address.h"
#include "socket_buffers.h"

namespace pinlatch {

class UdpSocket {
 public:
  UdpSocket() = default;
  ~UdpSocket() { Close(); }
  UdpSocket(UdpSocket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  // socket(SOCK_NONBLOCK|SOCK_CLOEXEC) of AF_INET or AF_INET6, buffer sizes set, IPV6_V6ONLY on a
  // v6 one, not bound (SpareSockets makes them ahead). Throws ERR_PINLATCH_SOCKET (e.g. EMFILE).
  static UdpSocket Open(int family, const SocketBufferSizes& buffers);

  // bind() to an address of the socket's family. Throws ERR_PINLATCH_BIND (e.g. EADDRINUSE).
  void BindTo(const SocketAddress& local);

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void Close();

 private:
  explicit UdpSocket(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace pinlatch
