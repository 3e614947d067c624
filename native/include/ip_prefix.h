// IpPrefix: an IPv4 or IPv6 network (the leading `length` bits of an address), matched against
// packet sources with no allocation and a handful of byte compares. The restricted-latching mask
// of a leg is made of these (docs/latching.md).
#pragma once

#include <cstdint>

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
  bool Contains(const SocketAddress& source) const;

 private:
  int family_ = AF_UNSPEC;
  uint8_t length_ = 0;
  // Network-order address bytes, host bits zero (4 used for IPv4).
  uint8_t bytes_[16] = {};
};

}  // namespace pinlatch
