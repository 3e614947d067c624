#include "socket_buffers.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "native_error.h"

namespace pinlatch {

namespace {

int ReadOption(int fd, int option, const char* name) {
  int value = 0;
  socklen_t length = sizeof(value);
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0) {
    int err = errno;
    throw NativeError(kErrSocket, std::string("getsockopt(") + name + ") failed", err, "getsockopt");
  }
  return value / 2;
}

}  // namespace

void ApplySocketBuffers(int fd, const SocketBufferSizes& sizes) {
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sizes.receive_bytes, sizeof(sizes.receive_bytes)) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sizes.send_bytes, sizeof(sizes.send_bytes)) != 0) {
    int err = errno;
    throw NativeError(kErrSocket, "setsockopt(SO_RCVBUF/SO_SNDBUF) failed", err, "setsockopt");
  }
}

SocketBufferSizes ReadSocketBuffers(int fd) {
  SocketBufferSizes sizes;
  sizes.receive_bytes = ReadOption(fd, SO_RCVBUF, "SO_RCVBUF");
  sizes.send_bytes = ReadOption(fd, SO_SNDBUF, "SO_SNDBUF");
  return sizes;
}

SocketBufferSizes ProbeSocketBuffers(const SocketBufferSizes& sizes) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    int err = errno;
    throw NativeError(kErrSocket, "socket() failed", err, "socket");
  }
  try {
    ApplySocketBuffers(fd, sizes);
    const SocketBufferSizes granted = ReadSocketBuffers(fd);
    ::close(fd);
    return granted;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

}  // namespace pinlatch
