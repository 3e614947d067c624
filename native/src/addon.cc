#include "addon.h"

#include "monotonic_clock.h"
#include "native_error.h"
#include "relay.h"

namespace pinlatch {

namespace {

constexpr const char* kVersion = "0.1.0";

std::shared_ptr<EnvLoop> CreateEnvLoop(Napi::Env env) {
  try {
    return EnvLoop::Create(env);
  } catch (const NativeError& error) {
    Napi::Error js = Napi::Error::New(env, error.what());
    js.Set("code", Napi::String::New(env, error.code()));
    throw js;
  }
}

}  // namespace

PinlatchAddon::PinlatchAddon(Napi::Env env, Napi::Object exports) : env_loop_(CreateEnvLoop(env)) {
  relay_class_ = Napi::Persistent(Relay::DefineClass(env));
  DefineAddon(exports, {
                           InstanceValue("version", Napi::String::New(env, kVersion), napi_enumerable),
                           InstanceMethod<&PinlatchAddon::CreateRelay>("createRelay", napi_enumerable),
                           InstanceMethod<&PinlatchAddon::NowMs>("nowMs", napi_enumerable),
                       });
}

Napi::Value PinlatchAddon::CreateRelay(const Napi::CallbackInfo& info) {
  if (info.Length() > 0) return relay_class_.New({info[0]});
  return relay_class_.New({});
}

Napi::Value PinlatchAddon::NowMs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(MonotonicMs()));
}

}  // namespace pinlatch

using pinlatch::PinlatchAddon;
NODE_API_ADDON(PinlatchAddon)
