#include "thread_placement.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "native_error.h"

namespace pinlatch {

void PinCallingThread(int cpu) {
  if (cpu < 0 || cpu > kMaxCpu) {
    throw NativeError(kErrArg, "cpu must be an integer in 0.." + std::to_string(kMaxCpu));
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int rc = ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
  if (rc != 0) {
    throw NativeError(kErrAffinity,
                      "cannot pin the shard thread to CPU " + std::to_string(cpu) +
                          (rc == EINVAL ? " (offline, absent, or outside this process's cpuset)" : ""),
                      rc, "pthread_setaffinity_np");
  }
}

void MakeCallingThreadRealtime(int priority) {
  if (priority < kMinRealtimePriority || priority > kMaxRealtimePriority) {
    throw NativeError(kErrArg, "realtime priority must be an integer in 1..99");
  }
  sched_param param{};
  param.sched_priority = priority;
  const int rc = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param);
  if (rc == EPERM) {
    // sched(7): raising a thread to a real-time policy needs CAP_SYS_NICE, or an RLIMIT_RTPRIO
    // soft limit at least as high as the priority. In a cgroup-v1 container it also needs
    // cpu.rt_runtime_us > 0 for the group.
    throw NativeError(kErrRealtime,
                      "SCHED_FIFO priority " + std::to_string(priority) +
                          " for the shard thread needs CAP_SYS_NICE (or RLIMIT_RTPRIO >= " + std::to_string(priority) +
                          "): grant the capability (systemd AmbientCapabilities=CAP_SYS_NICE, setcap cap_sys_nice+ep) "
                          "or remove media.realtime",
                      rc, "pthread_setschedparam");
  }
  if (rc != 0) {
    throw NativeError(kErrRealtime, "cannot set SCHED_FIFO priority " + std::to_string(priority) + " for the shard thread",
                      rc, "pthread_setschedparam");
  }
}

void CheckThreadName(const std::string& name) {
  bool printable = !name.empty() && name.size() <= kMaxThreadName;
  for (const char c : name) printable = printable && c > 0x20 && c < 0x7f;
  if (!printable) {
    throw NativeError(kErrArg, "a thread name must be 1.." + std::to_string(kMaxThreadName) +
                                   " printable ASCII characters without spaces");
  }
}

void NameCallingThread(const std::string& name) {
  CheckThreadName(name);
  const int rc = ::pthread_setname_np(::pthread_self(), name.c_str());
  if (rc != 0) throw NativeError(kErrArg, "cannot name the thread " + name, rc, "pthread_setname_np");
}

ThreadPlacement CallingThreadPlacement() {
  ThreadPlacement placement;
  placement.tid = static_cast<int>(::syscall(SYS_gettid));
  cpu_set_t set;
  CPU_ZERO(&set);
  const int rc = ::pthread_getaffinity_np(::pthread_self(), sizeof(set), &set);
  if (rc != 0) throw NativeError(kErrAffinity, "cannot read the shard thread's CPU affinity", rc, "pthread_getaffinity_np");
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) placement.cpus.push_back(cpu);
  }
  int policy = SCHED_OTHER;
  sched_param param{};
  if (::pthread_getschedparam(::pthread_self(), &policy, &param) == 0 && policy == SCHED_FIFO) {
    placement.realtime_priority = param.sched_priority;
  }
  char name[kMaxThreadName + 1] = {};
  if (::pthread_getname_np(::pthread_self(), name, sizeof(name)) == 0) placement.name = name;
  return placement;
}

}  // namespace pinlatch
