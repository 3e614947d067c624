// NativeError: a failure the JS side must see as an Error with a stable `.code` (NativeErrorCode
// in src/native.ts) and, for system calls, the errno name (EADDRINUSE, EMFILE...) so the port
// pool can tell "port taken by another process" from "out of descriptors".
#pragma once

#include <stdexcept>
#include <string>

namespace pinlatch {

class NativeError : public std::runtime_error {
 public:
  NativeError(const char* code, const std::string& message, int sys_errno = 0, const char* syscall = nullptr)
      : std::runtime_error(message), code_(code), errno_(sys_errno), syscall_(syscall) {}

  const char* code() const { return code_; }
  // Positive errno value, or 0 when the failure is not a system call's.
  int sys_errno() const { return errno_; }
  const char* syscall() const { return syscall_; }

 private:
  const char* code_;
  int errno_;
  const char* syscall_;
};

inline constexpr const char* kErrBind = "ERR_PINLATCH_BIND";
inline constexpr const char* kErrSocket = "ERR_PINLATCH_SOCKET";
inline constexpr const char* kErrArg = "ERR_PINLATCH_ARG";
inline constexpr const char* kErrClosed = "ERR_PINLATCH_CLOSED";
inline constexpr const char* kErrAffinity = "ERR_PINLATCH_AFFINITY";
inline constexpr const char* kErrRealtime = "ERR_PINLATCH_REALTIME";

}  // namespace pinlatch
