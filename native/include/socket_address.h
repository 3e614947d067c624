// SocketAddress: an IPv4 or IPv6 transport address (IP + UDP port), small enough to live in the
// per-packet receive arrays (recvmmsg writes peer addresses straight into it).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace pinlatch {

class SocketAddress {
 public:
  SocketAddress() { storage_.v6 = {}; }

  // Parses an IPv4 or IPv6 literal (no host names, no zone ids). Returns false on bad input.
  static bool Parse(const std::string& ip, uint16_t port, SocketAddress* out);

  bool empty() const { return storage_.any.sa_family == AF_UNSPEC; }
  int family() const { return storage_.any.sa_family; }
  uint16_t port() const;
  void set_port(uint16_t port);

  // Same IP (and, for IPv6, the same zone); the port is ignored. This is the address rule of
  // the latch: a peer behind NAT keeps its public IP while the NAT may move its port.
  bool SameIp(const SocketAddress& other) const;
  // Same IP and same port.
  bool operator==(const SocketAddress& other) const;
  bool operator!=(const SocketAddress& other) const { return !(*this == other); }

  // The IP in network byte order: 4 bytes for IPv4, 16 for IPv6, none (0) when empty. Inline:
  // the latch's address rule reads them per packet.
  const uint8_t* IpBytes() const {
    if (family() == AF_INET) return reinterpret_cast<const uint8_t*>(&storage_.v4.sin_addr);
    return reinterpret_cast<const uint8_t*>(&storage_.v6.sin6_addr);
  }
  unsigned IpByteLength() const { return family() == AF_INET ? 4 : family() == AF_INET6 ? 16 : 0; }

  std::string IpString() const;
  // "192.0.2.1:4000" or "[2001:db8::1]:4000".
  std::string ToString() const;

  const sockaddr* sa() const { return &storage_.any; }
  sockaddr* mutable_sa() { return &storage_.any; }
  socklen_t length() const;
  static constexpr socklen_t capacity() { return sizeof(sockaddr_in6); }

 private:
  union {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } storage_;
};

}  // namespace pinlatch
