#include "latch_state.h"

namespace pinlatch {

namespace {
constexpr int kRtp = static_cast<int>(Channel::kRtpSocket);
constexpr int kRtcp = static_cast<int>(Channel::kRtcpSocket);
}  // namespace

void LatchState::SetPolicy(const LatchPolicy& policy) {
  policy_ = policy;
  near_ = policy_.address_prefix == LatchPolicy::kWholeAddress ? IpPrefix()
                                                               : IpPrefix::Of(policy_.address, policy_.address_prefix);
  refused_since_policy_ = 0;
  accepted_since_policy_ = false;
  refusal_reported_ = false;
  if (policy_.has_destination) {
    fixed_rtp_ = policy_.address;
    fixed_rtcp_ = policy_.address;
    const uint16_t rtcp_port = policy_.rtcp_port != 0 ? policy_.rtcp_port
                                                      : static_cast<uint16_t>(policy_.address.port() + 1);
    fixed_rtcp_.set_port(rtcp_port);
  }
  if (policy_.mode == LatchMode::kFixed) {
    // Nothing is learned in fixed mode; a later switch back to learning starts from scratch.
    tracks_[kRtp] = Track();
    tracks_[kRtcp] = Track();
  } else {
    for (Track& track : tracks_) {
      if (track.latched && !AddressFits(track.peer)) track = Track();
    }
  }
  ClearCandidate();
  changed_ = true;
}

bool LatchState::Restore(Channel channel, const SocketAddress& peer, int64_t now_ms) {
  if (policy_.mode == LatchMode::kFixed || policy_.mode == LatchMode::kUnset) return false;
  if (channel == Channel::kRtcpSocket && policy_.rtcp_mux) return false;
  if (peer.empty() || !AddressFits(peer)) return false;
  Track& track = tracks_[static_cast<int>(channel)];
  track.peer = peer;
  track.latched = true;
  // A latch restored was earned by packets the rule accepted: no refusal report for this leg.
  accepted_since_policy_ = true;
  // The handover window starts now: the restored peer has not been silent, it was unheard.
  track.last_ms = now_ms;
  return true;
}

bool LatchState::AddressFits(const SocketAddress& source) const {
  switch (policy_.mode) {
    case LatchMode::kAny:
      return true;
    case LatchMode::kAddress: {
      if (near_.empty() ? policy_.address.SameIp(source) : near_.Contains(source)) return true;
      for (unsigned i = 0; i < policy_.network_count; ++i) {
        if (policy_.networks[i].Contains(source)) return true;
      }
      return false;
    }
    case LatchMode::kFixed:
      return policy_.address.SameIp(source);
    case LatchMode::kUnset:
      return false;
  }
  return false;
}

bool LatchState::Admissible(const SocketAddress& source) {
  if (AddressFits(source)) return true;
  if (policy_.mode != LatchMode::kUnset) {
    ++refused_;
    ++refused_since_policy_;
    last_refused_ = source;
  }
  return false;
}

bool LatchState::TakeRefusalReport() {
  if (refusal_reported_ || refused_since_policy_ == 0 || accepted_since_policy_) return false;
  refusal_reported_ = true;
  return true;
}

void LatchState::Latch(Channel channel, const SocketAddress& source, int64_t now_ms) {
  Track& track = tracks_[static_cast<int>(channel)];
  track.peer = source;
  track.latched = true;
  track.last_ms = now_ms;
  changed_ = true;
  if (channel == Channel::kRtpSocket) {
    ++latch_changes_;
    ClearCandidate();
  }
}

Verdict LatchState::OnRtp(const SocketAddress& source, uint32_t ssrc, uint16_t seq, int64_t now_ms) {
  Track& track = tracks_[kRtp];
  // The latched peer fitted the address rule when it latched, and SetPolicy forgets it when a new
  // rule does not fit it: its packets, nearly all of a call's, skip the rule (and its networks).
  const bool from_peer = track.latched && track.peer == source;
  if (!from_peer && !Admissible(source)) return Verdict::kStranger;
  bool accept = false;
  if (policy_.mode == LatchMode::kFixed || from_peer) {
    accept = true;
    track.last_ms = now_ms;
    ClearCandidate();
  } else if (!track.latched) {
    Latch(Channel::kRtpSocket, source, now_ms);
    accept = true;
  } else {
    // A newcomer while latched: it must continue the peer's RTP stream (same SSRC, sequence a
    // little ahead), keep doing so, and may take over only once the peer has gone silent.
    if (!has_ssrc_ || ssrc != ssrc_ || policy_.handover_max_seq_gap == 0) {
      if (has_candidate_ && candidate_ == source) ClearCandidate();
      return Verdict::kStranger;
    }
    const bool known = has_candidate_ && candidate_ == source;
    const uint16_t reference = known ? candidate_seq_ : last_seq_;
    const uint16_t ahead = static_cast<uint16_t>(seq - reference);
    if (ahead == 0 || ahead > policy_.handover_max_seq_gap) {
      if (known) ClearCandidate();
      return Verdict::kStranger;
    }
    has_candidate_ = true;
    candidate_ = source;
    candidate_seq_ = seq;
    if (!Silent(track, now_ms)) return Verdict::kStranger;
    Latch(Channel::kRtpSocket, source, now_ms);
    accept = true;
  }
  if (accept) {
    has_ssrc_ = true;
    ssrc_ = ssrc;
    last_seq_ = seq;
    last_activity_ms_ = now_ms;
    accepted_since_policy_ = true;
  }
  return accept ? Verdict::kAccept : Verdict::kStranger;
}

Verdict LatchState::OnRtcp(Channel channel, const SocketAddress& source, uint32_t sender_ssrc, int64_t now_ms) {
  Track& track = tracks_[static_cast<int>(channel)];
  const bool from_peer = track.latched && track.peer == source;
  if (!from_peer && !Admissible(source)) return Verdict::kStranger;
  if (policy_.mode == LatchMode::kFixed || from_peer) {
    track.last_ms = now_ms;
  } else if (!track.latched) {
    Latch(channel, source, now_ms);
  } else {
    // RTCP carries no sequence number: a newcomer must speak for the RTP stream we know (its
    // sender SSRC), or come from the IP the RTP latch sits on now (it moved with a rebinding).
    // On a multiplexed socket the RTP latch is this very track, so only the SSRC proves anything.
    const bool same_ssrc = has_ssrc_ && sender_ssrc == ssrc_;
    const bool follows_rtp = channel == Channel::kRtcpSocket && tracks_[kRtp].latched &&
                             tracks_[kRtp].peer.SameIp(source);
    if (policy_.handover_max_seq_gap == 0 || !Silent(track, now_ms) || !(same_ssrc || follows_rtp)) {
      return Verdict::kStranger;
    }
    Latch(channel, source, now_ms);
  }
  last_activity_ms_ = now_ms;
  accepted_since_policy_ = true;
  return Verdict::kAccept;
}

const SocketAddress* LatchState::RtpDestination() const {
  if (policy_.mode == LatchMode::kFixed) return &fixed_rtp_;
  if (tracks_[kRtp].latched) return &tracks_[kRtp].peer;
  return policy_.has_destination ? &fixed_rtp_ : nullptr;
}

const SocketAddress* LatchState::RtpPeer() const {
  if (policy_.mode == LatchMode::kFixed) return &fixed_rtp_;
  return tracks_[kRtp].latched ? &tracks_[kRtp].peer : nullptr;
}

const SocketAddress* LatchState::RtcpPeer() const {
  if (policy_.rtcp_mux) return RtpPeer();
  if (policy_.mode == LatchMode::kFixed) return &fixed_rtcp_;
  return tracks_[kRtcp].latched ? &tracks_[kRtcp].peer : nullptr;
}

const SocketAddress* LatchState::RtcpDestination(Channel* via) const {
  if (policy_.rtcp_mux) {
    *via = Channel::kRtpSocket;
    return RtpDestination();
  }
  *via = Channel::kRtcpSocket;
  if (policy_.mode == LatchMode::kFixed) return &fixed_rtcp_;
  if (tracks_[kRtcp].latched) return &tracks_[kRtcp].peer;
  return policy_.has_destination ? &fixed_rtcp_ : nullptr;
}

}  // namespace pinlatch
