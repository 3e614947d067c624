// LatchState: the symmetric-latching rules (RFC 7362) of one leg, hardened against RTP bleed and
// injection (Asterisk CVE-2017-14099, rtpproxy CVE-2017-14114, rtpengine CVE-2025-53399).
// Pure state machine: it is told about already validated packets (see rtp_check.h) and answers
// accept/stranger; it never touches a socket. docs/latching.md describes the policy.
#pragma once

#include <cstdint>

#include "ip_prefix.h"
#include "socket_address.h"

namespace pinlatch {

enum class LatchMode : uint8_t {
  // No policy set yet: behaves like kAddress with no address, so nothing latches.
  kUnset,
  // Only sources whose IP equals the policy address (or lies within the restriction mask, see
  // LatchPolicy) may latch (any port).
  kAddress,
  // Weak: the first valid packet from anywhere latches.
  kAny,
  // No learning: send to the policy address/port; accept only from the policy IP.
  kFixed,
};

// Networks a restricted-latching rule may list besides the address's own prefix; the bound keeps
// the policy a fixed-size value and the per-packet check short.
constexpr unsigned kMaxLatchNetworks = 16;

// Which of the leg's two sockets a packet arrived on (or must leave from).
enum class Channel : uint8_t { kRtpSocket = 0, kRtcpSocket = 1 };

struct LatchPolicy {
  LatchMode mode = LatchMode::kUnset;
  // IP the address rule compares against; for kFixed it carries the peer's RTP port too.
  SocketAddress address;
  // kFixed without mux: the peer's RTCP port (0 = RTP port + 1).
  uint16_t rtcp_port = 0;
  // `address` carries a port from signalling: kFixed always sends there; kAddress sends there
  // until the leg latches (the SDP destination of a routable or on-site peer).
  bool has_destination = false;
  // RFC 5761: RTCP for this leg travels on its RTP socket.
  bool rtcp_mux = false;
  // Restricted latching (kAddress only): a source may also latch when its first `address_prefix`
  // bits equal the address's (a NAT with several public addresses, a multi-homed phone), or when
  // it lies in one of `networks`. kWholeAddress keeps the exact-IP rule (IPv6 zone included).
  static constexpr uint8_t kWholeAddress = 255;
  uint8_t address_prefix = kWholeAddress;
  uint8_t network_count = 0;
  IpPrefix networks[kMaxLatchNetworks];
  int64_t handover_silence_ms = 0;
  // 0 disables takeover by a newcomer.
  uint32_t handover_max_seq_gap = 0;
};

enum class Verdict : uint8_t { kAccept, kStranger };

class LatchState {
 public:
  // Replaces the policy. Latched peers that no longer satisfy the address rule are forgotten, and
  // so is any takeover candidate.
  void SetPolicy(const LatchPolicy& policy);
  const LatchPolicy& policy() const { return policy_; }

  // A valid RTP packet from `source` arrived on this leg's RTP socket.
  Verdict OnRtp(const SocketAddress& source, uint32_t ssrc, uint16_t seq, int64_t now_ms);
  // A valid RTCP packet from `source` arrived on `channel` (the RTP socket when multiplexed).
  Verdict OnRtcp(Channel channel, const SocketAddress& source, uint32_t sender_ssrc, int64_t now_ms);

  // Where RTP for this leg goes: the latched peer, else the signalled destination, else nullptr.
  const SocketAddress* RtpDestination() const;
  // The peer as counters report it: the latched source (the fixed one in kFixed), never the
  // signalled destination used before latching.
  const SocketAddress* RtpPeer() const;
  const SocketAddress* RtcpPeer() const;
  // Where RTCP for this leg goes (nullptr while there is none) and from which socket.
  const SocketAddress* RtcpDestination(Channel* via) const;

  // Re-creates a latch learned earlier by a shard that has since died (docs/architecture.md, shard
  // faults): `peer` becomes the latched source of `channel` when the current policy would have
  // let it latch (never in kFixed or kUnset, never on the RTCP socket of a multiplexed leg). It
  // is not counted as a latch change: the peer did not change. Returns whether it latched.
  bool Restore(Channel channel, const SocketAddress& peer, int64_t now_ms);

  // True once since the latched peers last may have changed (a latch, a handover, a policy that
  // forgot one); reading clears it. The shard polls it to tell the main thread about latches
  // without any JavaScript per packet.
  bool TakeChanged() {
    const bool changed = changed_;
    changed_ = false;
    return changed;
  }
  // Valid packets refused because their source fits no address rule of the policy (a subset of
  // the stranger drops; not counted while no policy is set), and the last such source.
  uint64_t refused() const { return refused_; }
  const SocketAddress* last_refused() const { return refused_ == 0 ? nullptr : &last_refused_; }
  // True once per policy, for a leg that has refused packets and accepted none since the policy
  // was set: its media arrives only from sources the rule refuses (the caller logs it).
  bool TakeRefusalReport();
  // Packets refused since the policy was set.
  uint64_t refused_since_policy() const { return refused_since_policy_; }

  bool has_ssrc() const { return has_ssrc_; }
  uint32_t ssrc() const { return ssrc_; }
  uint32_t latch_changes() const { return latch_changes_; }
  int64_t last_activity_ms() const { return last_activity_ms_; }

 private:
  struct Track {
    SocketAddress peer;
    bool latched = false;
    int64_t last_ms = 0;
  };

  bool AddressFits(const SocketAddress& source) const;
  // AddressFits, counting a refusal when it does not.
  bool Admissible(const SocketAddress& source);
  bool Silent(const Track& track, int64_t now_ms) const {
    return now_ms - track.last_ms >= policy_.handover_silence_ms;
  }
  void Latch(Channel channel, const SocketAddress& source, int64_t now_ms);
  void ClearCandidate() { has_candidate_ = false; }

  LatchPolicy policy_;
  // Destinations given by signalling (policy.has_destination).
  SocketAddress fixed_rtp_;
  SocketAddress fixed_rtcp_;
  // Indexed by Channel: the peer learned on each socket.
  Track tracks_[2];

  // Last SSRC and sequence number accepted from the RTP peer: what a newcomer must continue.
  bool has_ssrc_ = false;
  uint32_t ssrc_ = 0;
  uint16_t last_seq_ = 0;

  // A newcomer that continues the RTP peer's sequence while the peer is not yet silent long
  // enough (a NAT rebinding in progress); it keeps its claim only while its own sequence stays
  // continuous, and takes over once the old peer has been silent for the window.
  bool has_candidate_ = false;
  SocketAddress candidate_;
  uint16_t candidate_seq_ = 0;

  uint32_t latch_changes_ = 0;
  int64_t last_activity_ms_ = 0;
  bool changed_ = false;

  // The policy address's own prefix (restricted latching), when narrower than the whole address.
  IpPrefix near_;
  uint64_t refused_ = 0;
  SocketAddress last_refused_;
  uint64_t refused_since_policy_ = 0;
  bool accepted_since_policy_ = false;
  bool refusal_reported_ = false;
};

}  // namespace pinlatch
