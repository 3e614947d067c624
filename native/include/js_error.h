// ToJsError: the JS form of a NativeError. `.code` is the NativeErrorCode; for system call
// failures also `.errno` (negative, as Node's own system errors), `.syscall` and `.syscallCode`
// (EADDRINUSE...).
#pragma once

#include <napi.h>

#include "native_error.h"

namespace pinlatch {

Napi::Error ToJsError(Napi::Env env, const NativeError& error);

}  // namespace pinlatch
