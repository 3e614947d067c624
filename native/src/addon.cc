#include "addon.h"

#include "monotonic_clock.h"
#include "relay.h"

namespace pinlatch {

namespace {
constexpr const char* kVersion = "0.1.0";
}  // namespace

PinlatchAddon::PinlatchAddon(Napi::Env env, Napi::Object exports) : env_loop_(EnvLoop::Create(env)) {
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
