// Relay: the NativeRelay of src/native.ts — the data plane of one environment (one shard). It
// owns the streams, translates JS arguments into LatchPolicy/SocketAddress values, and reads
// counters in bulk. Control calls only: no JavaScript runs per packet.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "batch_buffers.h"
#include "env_loop.h"
#include "relay_totals.h"
#include "socket_buffers.h"
#include "stream.h"
#include "uring_engine.h"

namespace pinlatch {

class Relay : public Napi::ObjectWrap<Relay> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  // JS: new Relay(options?) — only through addon.createRelay().
  explicit Relay(const Napi::CallbackInfo& info);
  ~Relay() override;

  // Closes every stream (close() from JS, env teardown, or finalization).
  void CloseAll();

 private:
  Napi::Value OpenStream(const Napi::CallbackInfo& info);
  void SetLeg(const Napi::CallbackInfo& info);
  void CloseStream(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  // Counters of every stream this relay has had, summed (the metrics endpoint reads them per shard).
  Napi::Value Totals(const Napi::CallbackInfo& info);
  Napi::Value Idle(const Napi::CallbackInfo& info);
  Napi::Value TakeLatchChanges(const Napi::CallbackInfo& info);
  Napi::Value RestoreLatch(const Napi::CallbackInfo& info);
  // Legs whose media so far arrives only from sources their rule refuses, each reported once per
  // policy (LatchState::TakeRefusalReport).
  Napi::Value Refusals(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Engine(const Napi::CallbackInfo& info);
  // What every stream socket asks for and what the kernel grants (probed at creation).
  Napi::Value SocketBuffers(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  void EnsureOpen(Napi::Env env) const;
  Napi::Object StreamCounters(Napi::Env env, const Stream& stream) const;

  std::shared_ptr<EnvLoop> env_loop_;
  std::unique_ptr<BatchBuffers> buffers_;
  SocketBufferSizes socket_buffers_;
  SocketBufferSizes granted_buffers_;
  // The io_uring data path, or nullptr for the epoll (uv_poll per socket) path.
  std::unique_ptr<UringEngine> uring_;
  std::unordered_map<uint32_t, std::unique_ptr<Stream>> streams_;
  uint32_t next_id_ = 1;
  // What the streams closed so far counted (RelayTotals::Add when each closed).
  RelayTotals closed_totals_;
  bool closed_ = false;
};

}  // namespace pinlatch
