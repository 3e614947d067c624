#include "control_channel.h"

#include <errno.h>
#include <sys/socket.h>

#include <utility>

#include "native_error.h"

namespace pinlatch {

namespace {

// Token -> channel of every open relay of the process (see control_channel.h). Allocated once and
// never destroyed: worker threads may still be closing relays while the process exits.
struct Registry {
  std::mutex mutex;
  std::unordered_map<uint32_t, std::weak_ptr<ControlChannel>> channels;
  uint32_t next_token = 1;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

uint32_t NewToken() {
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  uint32_t token = registry.next_token++;
  if (token == 0) token = registry.next_token++;
  return token;
}

}  // namespace

ControlChannel::ControlChannel(const SocketBufferSizes& socket_buffers)
    : token_(NewToken()), socket_buffers_(socket_buffers), spares_(socket_buffers) {}

ControlChannel::~ControlChannel() { Close(); }

uint32_t ControlChannel::NextStreamId() {
  uint32_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  while (id == 0) id = next_id_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void ControlChannel::Push(std::vector<ControlCommand>& commands) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_ || wake_ == nullptr) throw NativeError(kErrClosed, "the relay is closed");
  if (queue_.size() + commands.size() > kMaxPending) {
    throw NativeError(kErrSocket, "the relay's control queue is full (its thread does not drain it)", EAGAIN,
                      "push");
  }
  size_t opens = 0;
  for (const ControlCommand& command : commands) opens += command.kind == ControlCommand::Kind::kOpen ? 1 : 0;
  if (families_.size() + opens > kMaxStreams) {
    throw NativeError(kErrSocket, "the relay has too many open streams", EMFILE, "push");
  }
  for (ControlCommand& command : commands) {
    if (command.kind == ControlCommand::Kind::kOpen) {
      families_[command.id] = static_cast<uint8_t>(command.sockets->family == AF_INET6 ? 6 : 4);
    } else if (command.kind == ControlCommand::Kind::kClose) {
      families_.erase(command.id);
    }
    queue_.push_back(std::move(command));
  }
  commands.clear();
  pending_.store(true, std::memory_order_release);
}

void ControlChannel::Wake() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!closed_ && wake_ != nullptr && !queue_.empty()) uv_async_send(wake_);
}

int ControlChannel::StreamFamily(uint32_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = families_.find(id);
  if (found == families_.end()) return 0;
  return found->second == 6 ? AF_INET6 : AF_INET;
}

void ControlChannel::NoteStream(uint32_t id, int family) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!closed_) families_[id] = static_cast<uint8_t>(family == AF_INET6 ? 6 : 4);
}

void ControlChannel::ForgetStream(uint32_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  families_.erase(id);
}

std::vector<ControlCommand> ControlChannel::Take() {
  if (!pending_.load(std::memory_order_acquire)) return {};
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.store(false, std::memory_order_relaxed);
  return std::exchange(queue_, {});
}

void ControlChannel::Attach(uv_async_t* wake) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_ = wake;
  }
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  // The relay holds a shared_ptr to this channel; only a weak one goes into the registry.
  registry.channels[token_] = weak_from_this();
}

std::vector<ControlCommand> ControlChannel::Close() {
  std::vector<ControlCommand> pending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return pending;
    closed_ = true;
    wake_ = nullptr;
    pending = std::exchange(queue_, {});
    pending_.store(false, std::memory_order_relaxed);
    families_.clear();
  }
  spares_.Close();
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.channels.erase(token_);
  return pending;
}

std::shared_ptr<ControlChannel> ControlChannel::Find(uint32_t token) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  auto found = registry.channels.find(token);
  if (found == registry.channels.end()) return nullptr;
  return found->second.lock();
}

}  // namespace pinlatch
