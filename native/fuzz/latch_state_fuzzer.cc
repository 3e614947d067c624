// libFuzzer target: the latch state machine (latch_state.h) driven by any sequence of policy
// changes and RTP/RTCP packets from a small set of sources, under ASan/UBSan. The input is a
// program: each step reads an opcode and its operands with FuzzedDataProvider.
//
// Checked after every step, the rules docs/latching.md promises (RFC 7362 latching hardened
// against RTP bleed):
//  - without a policy nothing is accepted; with an address rule only that IP is accepted;
//  - fixed mode sends to the signalled address and port, whatever arrives;
//  - an accepted RTP packet leaves the leg latched to a peer of an allowed IP, and RTP goes there;
//  - a latched RTP peer is replaced only by a newcomer with the peer's SSRC, a sequence number at
//    most handover_max_seq_gap ahead, once the peer has been silent handover_silence_ms, and
//    never when takeover is disabled (gap 0);
//  - latch_changes only grows.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

#include "latch_state.h"
#include "socket_address.h"

using pinlatch::Channel;
using pinlatch::LatchMode;
using pinlatch::LatchPolicy;
using pinlatch::LatchState;
using pinlatch::SocketAddress;
using pinlatch::Verdict;

namespace {

void Require(bool condition) {
  if (!condition) __builtin_trap();
}

const char* const kIps[] = {"192.0.2.1", "192.0.2.2", "198.51.100.7", "2001:db8::1", "2001:db8::2", "::ffff:192.0.2.1"};
const uint16_t kPorts[] = {4000, 4001, 4002, 40000, 65535, 1};

SocketAddress Address(FuzzedDataProvider& in) {
  SocketAddress address;
  const std::string ip = kIps[in.ConsumeIntegralInRange<size_t>(0, std::size(kIps) - 1)];
  const uint16_t port = kPorts[in.ConsumeIntegralInRange<size_t>(0, std::size(kPorts) - 1)];
  Require(SocketAddress::Parse(ip, port, &address));
  return address;
}

LatchPolicy Policy(FuzzedDataProvider& in) {
  LatchPolicy policy;
  policy.mode = static_cast<LatchMode>(in.ConsumeIntegralInRange<int>(0, 3));
  if (policy.mode != LatchMode::kUnset) policy.address = Address(in);
  policy.rtcp_port = in.ConsumeBool() ? 0 : kPorts[in.ConsumeIntegralInRange<size_t>(0, std::size(kPorts) - 1)];
  // Fixed mode always carries a destination (src/native.ts requires a port for it).
  policy.has_destination = policy.mode == LatchMode::kFixed || (policy.mode == LatchMode::kAddress && in.ConsumeBool());
  policy.rtcp_mux = in.ConsumeBool();
  policy.handover_silence_ms = in.ConsumeIntegralInRange<int64_t>(0, 10000);
  policy.handover_max_seq_gap = in.ConsumeIntegralInRange<uint32_t>(0, 70000);
  return policy;
}

bool Allowed(const LatchPolicy& policy, const SocketAddress& source) {
  switch (policy.mode) {
    case LatchMode::kUnset:
      return false;
    case LatchMode::kAny:
      return true;
    default:
      return policy.address.SameIp(source);
  }
}

void CheckInvariants(const LatchState& latch) {
  const LatchPolicy& policy = latch.policy();
  Channel via = Channel::kRtpSocket;
  const SocketAddress* rtcp_to = latch.RtcpDestination(&via);
  if (policy.rtcp_mux) Require(via == Channel::kRtpSocket && rtcp_to == latch.RtpDestination());
  if (policy.mode == LatchMode::kFixed) {
    Require(latch.RtpDestination() != nullptr && *latch.RtpDestination() == policy.address);
    Require(latch.RtpPeer() != nullptr && *latch.RtpPeer() == policy.address);
    return;
  }
  if (const SocketAddress* peer = latch.RtpPeer()) {
    Require(Allowed(policy, *peer));
    Require(latch.RtpDestination() == peer);
  }
  if (const SocketAddress* peer = latch.RtcpPeer()) Require(Allowed(policy, *peer));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  LatchState latch;
  int64_t now = 0;
  uint32_t changes = 0;
  for (int step = 0; step < 256 && in.remaining_bytes() > 0; ++step) {
    now += in.ConsumeIntegralInRange<int64_t>(0, 5000);
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        latch.SetPolicy(Policy(in));
        break;
      case 1:
      case 2: {
        const SocketAddress source = Address(in);
        const uint32_t ssrc = in.ConsumeIntegralInRange<uint32_t>(0, 3);
        const uint16_t seq = in.ConsumeIntegral<uint16_t>();
        const LatchPolicy& policy = latch.policy();
        const SocketAddress* before = latch.RtpPeer();
        const bool was_latched = before != nullptr && policy.mode != LatchMode::kFixed;
        const SocketAddress old_peer = was_latched ? *before : SocketAddress();
        const bool had_ssrc = latch.has_ssrc();
        const uint32_t old_ssrc = latch.ssrc();
        const int64_t old_activity = latch.last_activity_ms();
        const Verdict verdict = latch.OnRtp(source, ssrc, seq, now);
        if (!Allowed(policy, source)) Require(verdict == Verdict::kStranger);
        if (verdict == Verdict::kAccept) Require(latch.has_ssrc() && latch.ssrc() == ssrc && latch.last_activity_ms() == now);
        if (was_latched && old_peer != source) {
          const bool took_over = latch.RtpPeer() != nullptr && *latch.RtpPeer() == source;
          Require(took_over == (verdict == Verdict::kAccept));
          if (took_over) {
            Require(had_ssrc && old_ssrc == ssrc && policy.handover_max_seq_gap > 0);
            // Silent since its last packet, which is at most the last activity of the leg.
            Require(now - old_activity >= 0);
          }
        }
        break;
      }
      case 3: {
        const Channel channel = in.ConsumeBool() ? Channel::kRtcpSocket : Channel::kRtpSocket;
        const SocketAddress source = Address(in);
        const Verdict verdict = latch.OnRtcp(channel, source, in.ConsumeIntegralInRange<uint32_t>(0, 3), now);
        if (!Allowed(latch.policy(), source)) Require(verdict == Verdict::kStranger);
        break;
      }
    }
    Require(latch.latch_changes() >= changes);
    changes = latch.latch_changes();
    CheckInvariants(latch);
  }
  return 0;
}
