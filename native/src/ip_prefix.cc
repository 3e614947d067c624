#include "ip_prefix.h"

#include <arpa/inet.h>

#include <cstring>

namespace pinlatch {

namespace {

uint8_t PartialMask(unsigned bits) { return static_cast<uint8_t>(0xff << (8 - bits)); }

}  // namespace

IpPrefix IpPrefix::Of(const SocketAddress& address, unsigned length) {
  IpPrefix prefix;
  const unsigned width = address.IpByteLength() * 8;
  if (width == 0) return prefix;
  prefix.family_ = address.family();
  prefix.length_ = static_cast<uint8_t>(length < width ? length : width);
  if (prefix.family_ == AF_INET) {
    uint32_t word;
    std::memcpy(&word, address.IpBytes(), sizeof(word));
    prefix.v4_mask_ = prefix.length_ == 0 ? 0 : htonl(0xffffffffu << (32 - prefix.length_));
    prefix.v4_network_ = word & prefix.v4_mask_;
    return prefix;
  }
  std::memcpy(prefix.bytes_, address.IpBytes(), address.IpByteLength());
  const unsigned whole = prefix.length_ / 8;
  const unsigned rest = prefix.length_ % 8;
  if (whole < address.IpByteLength()) {
    prefix.bytes_[whole] = rest == 0 ? 0 : static_cast<uint8_t>(prefix.bytes_[whole] & PartialMask(rest));
    for (unsigned i = whole + 1; i < address.IpByteLength(); ++i) prefix.bytes_[i] = 0;
  }
  return prefix;
}

bool IpPrefix::ContainsV6(const uint8_t* bytes) const {
  const unsigned whole = length_ / 8;
  const unsigned rest = length_ % 8;
  if (std::memcmp(bytes, bytes_, whole) != 0) return false;
  return rest == 0 || (bytes[whole] & PartialMask(rest)) == bytes_[whole];
}

}  // namespace pinlatch
