#include "socket_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace pinlatch {

bool SocketAddress::Parse(const std::string& ip, uint16_t port, SocketAddress* out) {
  SocketAddress parsed;
  if (inet_pton(AF_INET, ip.c_str(), &parsed.storage_.v4.sin_addr) == 1) {
    parsed.storage_.v4.sin_family = AF_INET;
    parsed.storage_.v4.sin_port = htons(port);
    *out = parsed;
    return true;
  }
  parsed = SocketAddress();
  if (inet_pton(AF_INET6, ip.c_str(), &parsed.storage_.v6.sin6_addr) == 1) {
    parsed.storage_.v6.sin6_family = AF_INET6;
    parsed.storage_.v6.sin6_port = htons(port);
    *out = parsed;
    return true;
  }
  return false;
}

uint16_t SocketAddress::port() const {
  switch (family()) {
    case AF_INET:
      return ntohs(storage_.v4.sin_port);
    case AF_INET6:
      return ntohs(storage_.v6.sin6_port);
    default:
      return 0;
  }
}

void SocketAddress::set_port(uint16_t port) {
  if (family() == AF_INET) storage_.v4.sin_port = htons(port);
  if (family() == AF_INET6) storage_.v6.sin6_port = htons(port);
}

bool SocketAddress::SameIp(const SocketAddress& other) const {
  if (family() != other.family()) return false;
  if (family() == AF_INET) return storage_.v4.sin_addr.s_addr == other.storage_.v4.sin_addr.s_addr;
  if (family() == AF_INET6) {
    return std::memcmp(&storage_.v6.sin6_addr, &other.storage_.v6.sin6_addr, sizeof(in6_addr)) == 0 &&
           storage_.v6.sin6_scope_id == other.storage_.v6.sin6_scope_id;
  }
  return false;
}

bool SocketAddress::operator==(const SocketAddress& other) const {
  return SameIp(other) && port() == other.port();
}

std::string SocketAddress::IpString() const {
  char text[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) inet_ntop(AF_INET, &storage_.v4.sin_addr, text, sizeof(text));
  if (family() == AF_INET6) inet_ntop(AF_INET6, &storage_.v6.sin6_addr, text, sizeof(text));
  return text;
}

std::string SocketAddress::ToString() const {
  if (family() == AF_INET6) return "[" + IpString() + "]:" + std::to_string(port());
  return IpString() + ":" + std::to_string(port());
}

socklen_t SocketAddress::length() const {
  return family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

}  // namespace pinlatch
