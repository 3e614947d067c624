// Thread placement of a shard: the CPU its thread runs on, its scheduling class and its name.
// Applied by the shard's own worker thread to itself when the shard starts (the thread that runs
// the worker's libuv loop, i.e. every packet of the shard), so nothing else in the process moves.
#pragma once

#include <string>
#include <vector>

namespace pinlatch {

struct ThreadPlacement {
  // Kernel thread id (gettid), as in /proc/self/task/<tid>.
  int tid = 0;
  // CPUs the thread may run on (sched_getaffinity), ascending.
  std::vector<int> cpus;
  // SCHED_FIFO priority 1..99, or 0 for the normal (SCHED_OTHER) class.
  int realtime_priority = 0;
  // The thread's name (/proc/self/task/<tid>/comm), what `top -H` and `ps -L` show.
  std::string name;
};

inline constexpr int kMinRealtimePriority = 1;
inline constexpr int kMaxRealtimePriority = 99;
inline constexpr int kMaxCpu = 1023;
// The kernel keeps 15 characters of a thread's name (TASK_COMM_LEN 16 with its NUL).
inline constexpr size_t kMaxThreadName = 15;

// Pins the calling thread to `cpu`. Throws NativeError ERR_PINLATCH_AFFINITY (EINVAL: the CPU is
// offline or outside this process's cpuset).
void PinCallingThread(int cpu);

// Moves the calling thread into SCHED_FIFO at `priority`. Throws NativeError ERR_PINLATCH_REALTIME;
// EPERM means the process lacks CAP_SYS_NICE (and RLIMIT_RTPRIO is below `priority`), the message
// says so.
void MakeCallingThreadRealtime(int priority);

// Throws NativeError ERR_PINLATCH_ARG unless `name` is 1..15 printable ASCII characters without
// spaces: what NameCallingThread accepts.
void CheckThreadName(const std::string& name);

// Names the calling thread (pthread_setname_np); the name is checked as CheckThreadName does.
void NameCallingThread(const std::string& name);

ThreadPlacement CallingThreadPlacement();

}  // namespace pinlatch
