// LegCounters: what one leg of a stream has seen and done; mirrors LegCounters in src/native.ts.
#pragma once

#include <cstdint>

namespace pinlatch {

struct LegCounters {
  // Packets (RTP + RTCP) accepted from this leg's peer, and their bytes.
  uint64_t packets_in = 0;
  uint64_t bytes_in = 0;
  // Packets (RTP + RTCP) sent to this leg's peer, and their bytes.
  uint64_t packets_out = 0;
  uint64_t bytes_out = 0;
  // The RTCP share of packets_in / packets_out.
  uint64_t rtcp_in = 0;
  uint64_t rtcp_out = 0;
  uint64_t drop_invalid = 0;
  uint64_t drop_stranger = 0;
  uint64_t drop_no_peer = 0;
  uint64_t drop_send_error = 0;
};

}  // namespace pinlatch
