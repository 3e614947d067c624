#include "addon.h"

#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "monotonic_clock.h"
#include "js_error.h"
#include "native_error.h"
#include "relay.h"
#include "thread_placement.h"

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
  control_class_ = Napi::Persistent(RelayControl::DefineClass(env));
  DefineAddon(exports, {
                           InstanceValue("version", Napi::String::New(env, kVersion), napi_enumerable),
                           InstanceMethod<&PinlatchAddon::CreateRelay>("createRelay", napi_enumerable),
                           InstanceMethod<&PinlatchAddon::Connect>("connect", napi_enumerable),
                           InstanceMethod<&PinlatchAddon::NowMs>("nowMs", napi_enumerable),
                           InstanceMethod<&PinlatchAddon::PlaceThread>("placeThread", napi_enumerable),
                           InstanceMethod<&PinlatchAddon::TrimMemory>("trimMemory", napi_enumerable),
                       });
}

Napi::Value PinlatchAddon::CreateRelay(const Napi::CallbackInfo& info) {
  if (info.Length() > 0) return relay_class_.New({info[0]});
  return relay_class_.New({});
}

Napi::Value PinlatchAddon::Connect(const Napi::CallbackInfo& info) {
  if (info.Length() > 0) return control_class_.New({info[0]});
  return control_class_.New({});
}

Napi::Value PinlatchAddon::NowMs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(MonotonicMs()));
}

// glibc keeps the memory free()d by every thread in its arenas and gives back to the kernel only
// the top of the main heap, past M_TRIM_THRESHOLD: after a load, the pages of freed buffers stay
// resident. malloc_trim(0) walks every arena (the media shards' too) and madvises their free pages
// away. Other C libraries (musl) have no such call: nothing is done there.
Napi::Value PinlatchAddon::TrimMemory(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

namespace {

// An optional integer field of `options`; `fallback` when absent.
int OptionalInteger(const Napi::Object& options, const char* name, int min, int max, int fallback) {
  const Napi::Value value = options.Get(name);
  if (value.IsUndefined()) return fallback;
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1.0;
  if (!value.IsNumber() || number != static_cast<double>(static_cast<int>(number)) || number < min || number > max) {
    throw NativeError(kErrArg, std::string("placeThread: ") + name + " must be an integer in " + std::to_string(min) +
                                   ".." + std::to_string(max));
  }
  return static_cast<int>(number);
}

}  // namespace

Napi::Value PinlatchAddon::PlaceThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsObject()) throw NativeError(kErrArg, "placeThread(options) needs an object");
      const Napi::Object options = info[0].As<Napi::Object>();
      const int cpu = OptionalInteger(options, "cpu", 0, kMaxCpu, -1);
      const int priority = OptionalInteger(options, "realtimePriority", kMinRealtimePriority, kMaxRealtimePriority, 0);
      const Napi::Value name_value = options.Get("name");
      if (!name_value.IsUndefined() && !name_value.IsString()) throw NativeError(kErrArg, "placeThread: name must be a string");
      const std::string name = name_value.IsString() ? name_value.As<Napi::String>().Utf8Value() : "";
      // Every argument is checked before anything is applied: a refused call changes nothing.
      if (name_value.IsString()) CheckThreadName(name);
      if (cpu >= 0) PinCallingThread(cpu);
      if (priority > 0) MakeCallingThreadRealtime(priority);
      if (name_value.IsString()) NameCallingThread(name);
    }
    const ThreadPlacement placement = CallingThreadPlacement();
    Napi::Object result = Napi::Object::New(env);
    result.Set("tid", Napi::Number::New(env, placement.tid));
    Napi::Array cpus = Napi::Array::New(env, placement.cpus.size());
    for (uint32_t i = 0; i < placement.cpus.size(); ++i) cpus.Set(i, Napi::Number::New(env, placement.cpus[i]));
    result.Set("cpus", cpus);
    result.Set("realtimePriority", Napi::Number::New(env, placement.realtime_priority));
    result.Set("name", Napi::String::New(env, placement.name));
    return result;
  } catch (const NativeError& error) {
    throw ToJsError(env, error);
  }
}

}  // namespace pinlatch

using pinlatch::PinlatchAddon;
NODE_API_ADDON(PinlatchAddon)
