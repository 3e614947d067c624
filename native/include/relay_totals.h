// RelayTotals: what every stream of one relay (one shard) has counted, the closed ones included.
// Added up from the per-leg counters when a stream closes and when totals() is read: the packet
// path keeps counting per leg only.
#pragma once

#include <cstdint>

#include "stream.h"

namespace pinlatch {

struct RelayTotals {
  LegCounters counters;
  uint64_t drop_refused = 0;
  uint64_t latch_changes = 0;
  uint64_t streams_opened = 0;

  void Add(const Stream::Leg& leg) {
    const LegCounters& c = leg.counters;
    counters.packets_in += c.packets_in;
    counters.bytes_in += c.bytes_in;
    counters.packets_out += c.packets_out;
    counters.bytes_out += c.bytes_out;
    counters.rtcp_in += c.rtcp_in;
    counters.rtcp_out += c.rtcp_out;
    counters.drop_invalid += c.drop_invalid;
    counters.drop_stranger += c.drop_stranger;
    counters.drop_no_peer += c.drop_no_peer;
    counters.drop_send_error += c.drop_send_error;
    drop_refused += leg.latch.refused();
    latch_changes += leg.latch.latch_changes();
  }

  void Add(const Stream& stream) {
    Add(stream.leg(0));
    Add(stream.leg(1));
  }
};

}  // namespace pinlatch
