#include "rtp_check.h"

namespace pinlatch {

namespace {

inline uint16_t Read16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

inline uint32_t Read32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

inline bool IsVersion2(uint8_t first) { return (first >> 6) == 2; }

}  // namespace

bool LooksLikeRtcp(const uint8_t* data, size_t length) {
  return length >= 2 && data[1] >= 192 && data[1] <= 223;
}

PacketInfo CheckRtp(const uint8_t* data, size_t length) {
  PacketInfo info;
  if (length < kRtpMinHeader || !IsVersion2(data[0])) return info;
  const bool padding = (data[0] & 0x20) != 0;
  const bool extension = (data[0] & 0x10) != 0;
  const size_t csrc_count = data[0] & 0x0f;
  size_t header = kRtpMinHeader + 4 * csrc_count;
  if (header > length) return info;
  if (extension) {
    // RFC 3550 §5.3.1: 16-bit profile field, 16-bit length in 32-bit words (header excluded).
    if (header + 4 > length) return info;
    header += 4 + 4 * static_cast<size_t>(Read16(data + header + 2));
    if (header > length) return info;
  }
  if (padding) {
    // RFC 3550 §5.1: the last octet counts the padding octets, itself included.
    const size_t pad = data[length - 1];
    if (pad == 0 || header + pad > length) return info;
  }
  info.kind = PacketKind::kRtp;
  info.seq = Read16(data + 2);
  info.ssrc = Read32(data + 8);
  return info;
}

PacketInfo CheckRtcp(const uint8_t* data, size_t length) {
  PacketInfo info;
  if (length < kRtcpMinHeader || !IsVersion2(data[0]) || !LooksLikeRtcp(data, length)) return info;
  // RFC 3550 §6.4.1: length in 32-bit words minus one, header included.
  const size_t first = (static_cast<size_t>(Read16(data + 2)) + 1) * 4;
  if (first < kRtcpMinHeader || first > length) return info;
  info.kind = PacketKind::kRtcp;
  info.ssrc = Read32(data + 4);
  return info;
}

PacketInfo ClassifyOnRtpSocket(const uint8_t* data, size_t length) {
  return LooksLikeRtcp(data, length) ? CheckRtcp(data, length) : CheckRtp(data, length);
}

}  // namespace pinlatch
