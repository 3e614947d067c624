// RtpCheck: pure validation of RTP (RFC 3550 §5.1) and RTCP (RFC 3550 §6.4, A.2) headers, and the
// RFC 5761 §4 demultiplexing rule for RTP and RTCP sharing one port. No I/O, no state: only a
// datagram that passes these checks may ever move a latch (RTP bleed hardening), everything else
// is counted as dropInvalid and dropped.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pinlatch {

enum class PacketKind : uint8_t { kInvalid, kRtp, kRtcp };

struct PacketInfo {
  PacketKind kind = PacketKind::kInvalid;
  // RTP: the SSRC. RTCP: the SSRC of the sender of the first packet of the compound.
  uint32_t ssrc = 0;
  // RTP only: the sequence number.
  uint16_t seq = 0;
};

inline constexpr size_t kRtpMinHeader = 12;
inline constexpr size_t kRtcpMinHeader = 8;

// RFC 5761 §4: on a shared port the second octet tells RTCP (192..223, i.e. RTCP packet types
// 192..223 with the RTP marker/PT layout) from RTP.
bool LooksLikeRtcp(const uint8_t* data, size_t length);

// Version 2; 12 + 4*CC octets; when X is set, the extension header and its declared length fit;
// when P is set, the padding count is non-zero and fits after the header.
PacketInfo CheckRtp(const uint8_t* data, size_t length);

// Version 2; at least 8 octets; first packet type 192..223; the first packet's length field fits
// in the datagram. Only the first packet is checked: in SRTCP (RFC 3711 §3.4) everything after the
// first 8 octets is encrypted and an index and auth tag trail the compound.
PacketInfo CheckRtcp(const uint8_t* data, size_t length);

// A datagram received on a leg's RTP socket: RTP, or RTCP when the RFC 5761 rule says so.
PacketInfo ClassifyOnRtpSocket(const uint8_t* data, size_t length);

}  // namespace pinlatch
