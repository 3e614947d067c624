// IpPrefix: an IPv4 or IPv6 network (the leading `length` bits of an address), matched against
// packet sources with no allocation and a handful of byte compares. The restricted-latching mask
// of a leg is made of these (docs/latching.md).
#pragma once

#include <cstdint>
#include <cstring>

#include "socket_address.h"

namespace pinlatch {

class IpPrefix {
 public:
  IpPrefix() = default;

  // The network of the first `length` bits of `address` (its port and zone are ignored); `length`
  // is clamped to the family's width (32 or 128). An empty address gives an empty prefix.
  static IpPrefix Of(const SocketAddress& address, unsigned length);

  bool empty() const { return family_ == AF_UNSPEC; }
  int family() const { return family_; }
  unsigned length() const { return length_; }

  // True when `source` is of the prefix's family and its first `length` bits are the prefix's.
  // Inline: it runs per packet, once per listed network for a source that is not the peer.
  bool Contains(const SocketAddress& source) const {
    if (family_ == AF_UNSPEC || source.family() != family_) return false;
    if (family_ == AF_INET) {
      uint32_t word;
      std::memcpy(&word, source.IpBytes(), sizeof(word));
      return (word & v4_mask_) == v4_network_;
    }
    return ContainsV6(source.IpBytes());
  }

 private:
  bool ContainsV6(const uint8_t* bytes) const;

  int family_ = AF_UNSPEC;
  uint8_t length_ = 0;
  // IPv4: network and mask as 32-bit words in network byte order (one AND and one compare).
  uint32_t v4_network_ = 0;
  uint32_t v4_mask_ = 0;
  // IPv6: network-order address bytes, host bits zero.
  uint8_t bytes_[16] = {};
};

}  // namespace pinlatch
