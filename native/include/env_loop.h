// EnvLoop: the libuv loop of one Node environment (main thread or worker) and the bookkeeping
// that lets that environment shut down cleanly with sockets still open.
//
// Node tears a worker down by running its cleanup hooks, then unloading the addon, then closing
// the loop (which aborts if handles are still open). uv_close() completes in a callback on the
// loop, so the env cleanup hook is the asynchronous kind (napi_add_async_cleanup_hook): Node keeps
// spinning the loop until every poll handle this environment ever closed has had its close
// callback, and only then is the addon's code unmapped. Every poll handle holds a reference to the
// EnvLoop, so it outlives the addon instance and the relays that may be finalized in between.
#pragma once

#include <node_api.h>
#include <uv.h>

#include <cstddef>
#include <memory>
#include <unordered_set>

namespace pinlatch {

class Relay;

class EnvLoop : public std::enable_shared_from_this<EnvLoop> {
 public:
  // Creates the EnvLoop of `env` and registers its teardown hook.
  static std::shared_ptr<EnvLoop> Create(napi_env env);

  uv_loop_t* loop() const { return loop_; }
  bool tearing_down() const { return tearing_down_; }

  void Register(Relay* relay) { relays_.insert(relay); }
  void Unregister(Relay* relay) { relays_.erase(relay); }
  // Applies the control commands waiting for this environment's relays (Relay::DrainCommands).
  // The packet callbacks call it first: a leg policy pushed before a packet arrived applies to
  // that packet, however late the relay's wake-up comes. Costs an atomic load when none waits.
  void ApplyCommands();

  // Bookkeeping of uv_close() calls in flight; see PollHandle.
  void OnCloseStarted() { ++closes_in_flight_; }
  void OnCloseFinished();

 private:
  EnvLoop() = default;
  static void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg);
  void FinishTeardownIfDone();

  uv_loop_t* loop_ = nullptr;
  std::unordered_set<Relay*> relays_;
  size_t closes_in_flight_ = 0;
  bool tearing_down_ = false;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  // Keeps this object alive while the cleanup hook is registered.
  std::shared_ptr<EnvLoop> hook_owner_;
};

}  // namespace pinlatch
