// latchcheck: the per-packet cost of the latch's address rule (LatchState::OnRtp, native/src/
// latch_state.cc) with the exact-address rule and with restricted-latching masks (a prefix of the
// address, 16 listed networks), for an accepted peer and for a refused stranger. Single thread, no
// sockets: only the rule. Build and run: `make -C bench latchcheck && bench/bin/latchcheck`.
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "latch_state.h"

using pinlatch::IpPrefix;
using pinlatch::LatchMode;
using pinlatch::LatchPolicy;
using pinlatch::LatchState;
using pinlatch::SocketAddress;
using pinlatch::Verdict;

namespace {

constexpr int kIterations = 20'000'000;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

SocketAddress Address(const char* ip, uint16_t port) {
  SocketAddress address;
  SocketAddress::Parse(ip, port, &address);
  return address;
}

LatchPolicy Policy(const char* ip, uint8_t prefix, int networks, const char* family_base) {
  LatchPolicy policy;
  policy.mode = LatchMode::kAddress;
  policy.address = Address(ip, 0);
  policy.address_prefix = prefix;
  policy.handover_silence_ms = 1000;
  policy.handover_max_seq_gap = 100;
  for (int i = 0; i < networks; ++i) {
    // 10.0.0.0/24 .. 10.15.0.0/24: the strangers below are in none, `listed` in the last.
    const std::string base = std::string(family_base) + std::to_string(i) + ".0.0";
    policy.networks[i] = IpPrefix::Of(Address(base.c_str(), 0), 24);
  }
  policy.network_count = static_cast<uint8_t>(networks);
  return policy;
}

// Runs OnRtp from `source` kIterations times; the first packet latches when the rule allows.
void Measure(const char* name, const LatchPolicy& policy, const SocketAddress& source) {
  LatchState latch;
  latch.SetPolicy(policy);
  uint64_t accepted = 0;
  const int64_t start = NowNs();
  for (int i = 0; i < kIterations; ++i) {
    accepted += latch.OnRtp(source, 0x1234, static_cast<uint16_t>(i), i / 50) == Verdict::kAccept;
  }
  const double ns = static_cast<double>(NowNs() - start) / kIterations;
  std::printf("%-52s %6.2f ns/packet  (%s)\n", name, ns, accepted == 0 ? "refused" : "accepted");
}

}  // namespace

int main() {
  const SocketAddress peer = Address("203.0.113.1", 40000);
  const SocketAddress neighbour = Address("203.0.113.2", 40000);
  const SocketAddress stranger = Address("198.18.0.9", 40000);
  const SocketAddress listed = Address("10.15.0.9", 40000);
  Measure("exact address, the peer", Policy("203.0.113.1", LatchPolicy::kWholeAddress, 0, "10."), peer);
  Measure("exact address, a stranger", Policy("203.0.113.1", LatchPolicy::kWholeAddress, 0, "10."), stranger);
  Measure("prefix /30, a neighbour address", Policy("203.0.113.1", 30, 0, "10."), neighbour);
  Measure("prefix /30 + 16 networks, a stranger (all checked)", Policy("203.0.113.1", 30, 16, "10."), stranger);
  Measure("exact + 16 networks, source in the 16th", Policy("203.0.113.1", LatchPolicy::kWholeAddress, 16, "10."), listed);
  const SocketAddress peer6 = Address("2001:db8:a::1", 40000);
  const SocketAddress near6 = Address("2001:db8:a::77", 40000);
  const SocketAddress stranger6 = Address("2001:db8:b::1", 40000);
  Measure("IPv6 exact address, the peer", Policy("2001:db8:a::1", LatchPolicy::kWholeAddress, 0, ""), peer6);
  Measure("IPv6 prefix /64, a neighbour address", Policy("2001:db8:a::1", 64, 0, ""), near6);
  Measure("IPv6 prefix /64, a stranger", Policy("2001:db8:a::1", 64, 0, ""), stranger6);
  return 0;
}
