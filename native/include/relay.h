// Relay: the NativeRelay of src/native.ts — the data plane of one environment (one shard). It
// owns the streams, translates JS arguments into LatchPolicy/SocketAddress values, and reads
// counters in bulk. Control calls only: no JavaScript runs per packet.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "batch_buffers.h"
#include "control_channel.h"
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

  // Closes every stream (close() from JS, env teardown, or finalization), the control channel
  // (later pushes throw, queued commands' sockets close) and its async handle.
  void CloseAll();
  // Applies the commands the main thread pushed (control_channel.h), in order. Runs on every
  // iteration of the loop (a uv_check), on the channel's wake-up, and before every JS method, so a
  // MessagePort request (stats right after an open) sees every stream pushed before it.
  void DrainCommands();

  // Bounds the error texts kept between two takeCommandErrors() calls (the count is exact).
  static constexpr size_t kMaxCommandErrorTexts = 16;

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
  Napi::Value SpareSocketCount(const Napi::CallbackInfo& info);
  Napi::Value Engine(const Napi::CallbackInfo& info);
  // What every stream socket asks for and what the kernel grants (probed at creation).
  Napi::Value SocketBuffers(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  // The token addon.connect() takes to reach this relay from another thread.
  Napi::Value ControlToken(const Napi::CallbackInfo& info);
  // Commands that failed on this thread since the last call (a socket the poll or the ring would
  // not take): {count, errors}.
  Napi::Value TakeCommandErrors(const Napi::CallbackInfo& info);

  static void OnWake(uv_async_t* handle);
  static void OnLoopIteration(uv_check_t* handle);
  static void OnWakeClosed(uv_handle_t* handle);
  void EnsureOpen(Napi::Env env) const;
  // EnsureOpen, then DrainCommands: what every JS method does first.
  void Sync(Napi::Env env);
  void Apply(ControlCommand& command);
  Napi::Object StreamCounters(Napi::Env env, const Stream& stream) const;

  std::shared_ptr<EnvLoop> env_loop_;
  std::unique_ptr<BatchBuffers> buffers_;
  SocketBufferSizes socket_buffers_;
  SocketBufferSizes granted_buffers_;
  // The io_uring data path, or nullptr for the epoll (uv_poll per socket) path.
  std::unique_ptr<UringEngine> uring_;
  std::unordered_map<uint32_t, std::unique_ptr<Stream>> streams_;
  std::shared_ptr<ControlChannel> channel_;
  // The channel's wake-up and the per-iteration drain on this environment's loop; freed by the
  // close callback of the last of the two handles.
  struct Wake {
    uv_async_t async;
    uv_check_t check;
    std::shared_ptr<EnvLoop> env;
    Relay* relay = nullptr;
    int open_handles = 0;
  };
  Wake* wake_ = nullptr;
  uint64_t command_errors_ = 0;
  std::vector<std::string> command_error_texts_;
  // What the streams closed so far counted (RelayTotals::Add when each closed).
  RelayTotals closed_totals_;
  bool closed_ = false;
};

// The main thread's handle on a relay of another thread (addon.connect(token)): binds streams'
// sockets here, parses leg policies here, and pushes commands to the relay's ControlChannel.
class RelayControl : public Napi::ObjectWrap<RelayControl> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit RelayControl(const Napi::CallbackInfo& info);

 private:
  Napi::Value OpenStreams(const Napi::CallbackInfo& info);
  void SetLegs(const Napi::CallbackInfo& info);
  void CloseStreams(const Napi::CallbackInfo& info);
  // Wakes the relay's loop if pushed commands wait for it.
  void Wake(const Napi::CallbackInfo& info);

  std::shared_ptr<ControlChannel> channel_;
};

}  // namespace pinlatch
