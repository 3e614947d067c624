// PinlatchAddon: the per-environment instance of the addon (Napi::Addon, NODE_API_ADDON). Each
// worker thread that loads pinlatch.node gets its own instance, its own EnvLoop and its own Relay
// class. What environments share is only the registry of relays' control channels
// (control_channel.h), through which the main thread reaches a shard's relay.
#pragma once

#include <napi.h>

#include <memory>

#include "env_loop.h"

namespace pinlatch {

class PinlatchAddon : public Napi::Addon<PinlatchAddon> {
 public:
  PinlatchAddon(Napi::Env env, Napi::Object exports);

  const std::shared_ptr<EnvLoop>& env_loop() const { return env_loop_; }

 private:
  Napi::Value CreateRelay(const Napi::CallbackInfo& info);
  // connect(controlToken): a RelayControl on the relay (of any thread) with that token.
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value NowMs(const Napi::CallbackInfo& info);
  // placeThread({cpu?, realtimePriority?}): pins / raises the calling thread, returns its placement.
  Napi::Value PlaceThread(const Napi::CallbackInfo& info);
  // trimMemory(): gives the C library's free memory back to the kernel (glibc malloc_trim); true
  // when some was released, false when none was or the C library cannot.
  Napi::Value TrimMemory(const Napi::CallbackInfo& info);

  std::shared_ptr<EnvLoop> env_loop_;
  Napi::FunctionReference relay_class_;
  Napi::FunctionReference control_class_;
};

}  // namespace pinlatch
