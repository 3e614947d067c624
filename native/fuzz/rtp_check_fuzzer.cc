// libFuzzer target: the RTP/RTCP validator (rtp_check.h) on any datagram, under ASan/UBSan.
// Besides memory safety it checks what the relay relies on: a datagram accepted as RTP or RTCP
// has a header that fits (so the SSRC/sequence read from it are in bounds), and the RFC 5761
// classification on an RTP socket agrees with the two checks it chooses between.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "rtp_check.h"

using pinlatch::PacketInfo;
using pinlatch::PacketKind;

namespace {

void Require(bool condition) {
  if (!condition) __builtin_trap();
}

bool Same(const PacketInfo& a, const PacketInfo& b) {
  return a.kind == b.kind && a.ssrc == b.ssrc && a.seq == b.seq;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy: any read past the datagram is an ASan report.
  std::vector<uint8_t> datagram(data, data + size);
  const uint8_t* p = datagram.empty() ? nullptr : datagram.data();

  const PacketInfo rtp = pinlatch::CheckRtp(p, size);
  const PacketInfo rtcp = pinlatch::CheckRtcp(p, size);
  const PacketInfo classified = pinlatch::ClassifyOnRtpSocket(p, size);
  const bool looks_rtcp = pinlatch::LooksLikeRtcp(p, size);

  Require(rtp.kind == PacketKind::kInvalid || rtp.kind == PacketKind::kRtp);
  Require(rtcp.kind == PacketKind::kInvalid || rtcp.kind == PacketKind::kRtcp);
  if (rtp.kind == PacketKind::kRtp) {
    Require(size >= pinlatch::kRtpMinHeader);
    Require((datagram[0] >> 6) == 2);
    Require(size >= pinlatch::kRtpMinHeader + 4 * static_cast<size_t>(datagram[0] & 0x0f));
  }
  if (rtcp.kind == PacketKind::kRtcp) {
    Require(size >= pinlatch::kRtcpMinHeader);
    Require(looks_rtcp);
    Require((static_cast<size_t>((datagram[2] << 8) | datagram[3]) + 1) * 4 <= size);
  }
  Require(Same(classified, looks_rtcp ? rtcp : rtp));
  // Deterministic: the same bytes always get the same verdict.
  Require(Same(rtp, pinlatch::CheckRtp(p, size)));
  return 0;
}
