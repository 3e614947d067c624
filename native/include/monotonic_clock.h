// MonotonicClock: CLOCK_MONOTONIC in milliseconds, the clock of lastActivityMs, idle() and the
// handover silence window (nowMs() in JS reads the same clock).
#pragma once

#include <time.h>

#include <cstdint>

namespace pinlatch {

inline int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace pinlatch
