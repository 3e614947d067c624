#include "js_error.h"

#include <uv.h>

#include <cstring>
#include <string>

namespace pinlatch {

Napi::Error ToJsError(Napi::Env env, const NativeError& error) {
  std::string message = error.what();
  const char* errno_name = nullptr;
  if (error.sys_errno() != 0) {
    errno_name = uv_err_name(-error.sys_errno());
    message += std::string(": ") + errno_name + " (" + std::strerror(error.sys_errno()) + ")";
  }
  Napi::Error js = Napi::Error::New(env, message);
  js.Set("code", Napi::String::New(env, error.code()));
  if (errno_name != nullptr) {
    js.Set("errno", Napi::Number::New(env, -error.sys_errno()));
    js.Set("syscallCode", Napi::String::New(env, errno_name));
    if (error.syscall() != nullptr) js.Set("syscall", Napi::String::New(env, error.syscall()));
  }
  return js;
}

}  // namespace pinlatch
