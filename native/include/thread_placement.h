// Thread placement of a shard: the CPU its thread runs on and its scheduling class. Applied by
// the shard's own worker thread to itself when the shard starts (the thread that runs the
// worker's libuv loop, i.e. every packet of the shard), so nothing else in the process moves.
#pragma once

#include <vector>

namespace pinlatch {

struct ThreadPlacement {
  // Kernel thread id (gettid), as in /proc/self/task/<tid>.
  int tid = 0;
  // CPUs the thread may run on (sched_getaffinity), ascending.
  std::vector<int> cpus;
  // SCHED_FIFO priority 1..99, or 0 for the normal (SCHED_OTHER) class.
  int realtime_priority = 0;
};

inline constexpr int kMinRealtimePriority = 1;
inline constexpr int kMaxRealtimePriority = 99;
inline constexpr int kMaxCpu = 1023;

// Pins the calling thread to `cpu`. Throws NativeError ERR_PINLATCH_AFFINITY (EINVAL: the CPU is
// offline or outside this process's cpuset).
void PinCallingThread(int cpu);

// Moves the calling thread into SCHED_FIFO at `priority`. Throws NativeError ERR_PINLATCH_REALTIME;
// EPERM means the process lacks CAP_SYS_NICE (and RLIMIT_RTPRIO is below `priority`), the message
// says so.
void MakeCallingThreadRealtime(int priority);

ThreadPlacement CallingThreadPlacement();

}  // namespace pinlatch
