#include "env_loop.h"

#include <vector>

#include "native_error.h"
#include "relay.h"

namespace pinlatch {

std::shared_ptr<EnvLoop> EnvLoop::Create(napi_env env) {
  std::shared_ptr<EnvLoop> self(new EnvLoop());
  if (napi_get_uv_event_loop(env, &self->loop_) != napi_ok || self->loop_ == nullptr) {
    throw NativeError(kErrSocket, "napi_get_uv_event_loop failed");
  }
  if (napi_add_async_cleanup_hook(env, &EnvLoop::OnTeardown, self.get(), &self->hook_) != napi_ok) {
    throw NativeError(kErrSocket, "napi_add_async_cleanup_hook failed");
  }
  self->hook_owner_ = self;
  return self;
}

void EnvLoop::OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
  EnvLoop* self = static_cast<EnvLoop*>(arg);
  self->tearing_down_ = true;
  // Closing a relay unregisters nothing (relays unregister in their destructor), but copy anyway:
  // the set must not be iterated while anything could touch it.
  std::vector<Relay*> relays(self->relays_.begin(), self->relays_.end());
  for (Relay* relay : relays) relay->CloseAll();
  self->FinishTeardownIfDone();
}

void EnvLoop::ApplyCommands() {
  // Draining never adds or removes relays.
  for (Relay* relay : relays_) relay->DrainCommands();
}

void EnvLoop::OnCloseFinished() {
  --closes_in_flight_;
  FinishTeardownIfDone();
}

void EnvLoop::FinishTeardownIfDone() {
  if (!tearing_down_ || closes_in_flight_ != 0 || hook_ == nullptr) return;
  napi_remove_async_cleanup_hook(hook_);
  hook_ = nullptr;
  // May delete this object: nothing below this line.
  std::shared_ptr<EnvLoop> last = std::move(hook_owner_);
}

}  // namespace pinlatch
