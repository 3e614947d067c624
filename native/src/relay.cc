#include "relay.h"


#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "js_error.h"
#include "monotonic_clock.h"
#include "native_error.h"

namespace pinlatch {

namespace {

template <typename Fn>
auto Guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const NativeError& error) {
    throw ToJsError(env, error);
  }
}

[[noreturn]] void ArgError(const std::string& message) { throw NativeError(kErrArg, message); }

int64_t IntegerField(const Napi::Object& object, const char* name, int64_t min, int64_t max) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) ArgError(std::string(name) + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number || number < static_cast<double>(min) ||
      number > static_cast<double>(max)) {
    ArgError(std::string(name) + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
  }
  return static_cast<int64_t>(number);
}

uint32_t StreamId(const Napi::Value& value) {
  if (!value.IsNumber()) ArgError("stream id must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number || number < 1 || number > 4294967295.0) {
    ArgError("stream id must be a positive integer");
  }
  return static_cast<uint32_t>(number);
}

SocketAddress AddressField(const Napi::Object& object, const char* name, uint16_t port) {
  Napi::Value value = object.Get(name);
  if (!value.IsString()) ArgError(std::string(name) + " must be an IP literal string");
  const std::string text = value.As<Napi::String>().Utf8Value();
  SocketAddress address;
  if (!SocketAddress::Parse(text, port, &address)) ArgError(std::string(name) + " is not an IP literal: " + text);
  return address;
}

// "address/length" (the JS side hands canonical CIDR text); host bits are cleared.
IpPrefix ParsePrefix(const std::string& text, int stream_family) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) ArgError("policy.latchNetworks entry is not address/length: " + text);
  SocketAddress address;
  if (!SocketAddress::Parse(text.substr(0, slash), 0, &address)) {
    ArgError("policy.latchNetworks entry has no IP literal: " + text);
  }
  if (address.family() != stream_family) ArgError("policy.latchNetworks entry is not of the stream's address family: " + text);
  const std::string digits = text.substr(slash + 1);
  const unsigned width = address.IpByteLength() * 8;
  if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(digits) > width) {
    ArgError("policy.latchNetworks entry has an invalid prefix length: " + text);
  }
  return IpPrefix::Of(address, static_cast<unsigned>(std::stoul(digits)));
}

// Restricted latching of an 'address' policy: latchPrefix (bits of the address that a source must
// share) and latchNetworks (CIDR strings), both optional.
void ParseRestriction(const Napi::Object& object, LatchPolicy* policy) {
  const unsigned width = policy->address.IpByteLength() * 8;
  if (!object.Get("latchPrefix").IsUndefined()) {
    const int64_t prefix = IntegerField(object, "latchPrefix", 0, width);
    if (prefix < static_cast<int64_t>(width)) policy->address_prefix = static_cast<uint8_t>(prefix);
  }
  const Napi::Value networks = object.Get("latchNetworks");
  if (networks.IsUndefined()) return;
  if (!networks.IsArray()) ArgError("policy.latchNetworks must be an array of CIDR strings");
  const Napi::Array list = networks.As<Napi::Array>();
  if (list.Length() > kMaxLatchNetworks) {
    ArgError("policy.latchNetworks holds at most " + std::to_string(kMaxLatchNetworks) + " networks");
  }
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const Napi::Value entry = list.Get(i);
    if (!entry.IsString()) ArgError("policy.latchNetworks entries must be strings");
    policy->networks[i] = ParsePrefix(entry.As<Napi::String>().Utf8Value(), policy->address.family());
  }
  policy->network_count = static_cast<uint8_t>(list.Length());
}

LatchPolicy ParsePolicy(const Napi::Value& value, int stream_family) {
  if (!value.IsObject()) ArgError("policy must be an object");
  const Napi::Object object = value.As<Napi::Object>();
  LatchPolicy policy;
  const Napi::Value mode = object.Get("mode");
  const std::string mode_name = mode.IsString() ? mode.As<Napi::String>().Utf8Value() : "";
  if (mode_name == "address") {
    policy.mode = LatchMode::kAddress;
  } else if (mode_name == "any") {
    policy.mode = LatchMode::kAny;
  } else if (mode_name == "fixed") {
    policy.mode = LatchMode::kFixed;
  } else {
    ArgError("policy.mode must be 'address', 'any' or 'fixed'");
  }
  const Napi::Value mux = object.Get("rtcpMux");
  if (!mux.IsBoolean()) ArgError("policy.rtcpMux must be a boolean");
  policy.rtcp_mux = mux.As<Napi::Boolean>().Value();
  policy.handover_silence_ms = IntegerField(object, "handoverSilenceMs", 0, 86400000);
  policy.handover_max_seq_gap = static_cast<uint32_t>(IntegerField(object, "handoverMaxSeqGap", 0, 32767));
  if (policy.mode == LatchMode::kAny) return policy;

  uint16_t port = 0;
  // 'fixed' needs a port; 'address' may carry the SDP port as the destination until it latches.
  const bool has_port = policy.mode == LatchMode::kFixed || !object.Get("port").IsUndefined();
  if (has_port) {
    port = static_cast<uint16_t>(IntegerField(object, "port", 1, 65535));
    policy.has_destination = true;
    if (!object.Get("rtcpPort").IsUndefined()) {
      policy.rtcp_port = static_cast<uint16_t>(IntegerField(object, "rtcpPort", 1, 65535));
    } else if (!policy.rtcp_mux && port == 65535) {
      ArgError("policy.port 65535 leaves no port + 1 for RTCP; give rtcpPort");
    }
  }
  policy.address = AddressField(object, "address", port);
  if (policy.address.family() != stream_family) ArgError("policy.address is not of the stream's address family");
  if (policy.mode == LatchMode::kAddress) ParseRestriction(object, &policy);
  return policy;
}

// "192.0.2.1:4000" or "[2001:db8::1]:4000" (what PeerValue writes) into an address.
SocketAddress EndpointField(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsString()) ArgError(std::string(name) + " must be an \"ip:port\" string");
  const std::string text = value.As<Napi::String>().Utf8Value();
  const size_t colon = text.rfind(':');
  bool bracketed = !text.empty() && text[0] == '[';
  if (colon == std::string::npos || colon == 0 || (bracketed && text[colon - 1] != ']')) {
    ArgError(std::string(name) + " is not \"ip:port\": " + text);
  }
  const std::string ip = bracketed ? text.substr(1, colon - 2) : text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  char* end = nullptr;
  const unsigned long port = port_text.empty() ? 0 : std::strtoul(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 1 || port > 65535) {
    ArgError(std::string(name) + " has no port 1..65535: " + text);
  }
  SocketAddress address;
  if (!SocketAddress::Parse(ip, static_cast<uint16_t>(port), &address) ||
      (!bracketed && address.family() == AF_INET6)) {
    ArgError(std::string(name) + " is not \"ip:port\": " + text);
  }
  return address;
}

Napi::Value PeerValue(Napi::Env env, const SocketAddress* peer) {
  if (peer == nullptr) return env.Null();
  return Napi::String::New(env, peer->ToString());
}

/** The packet and drop counters of LegCounters as the JS names of native.ts's LegCounters. */
void SetCounters(Napi::Env env, Napi::Object object, const LegCounters& c) {
  auto number = [&](const char* name, uint64_t value) { object.Set(name, Napi::Number::New(env, static_cast<double>(value))); };
  number("packetsIn", c.packets_in);
  number("bytesIn", c.bytes_in);
  number("packetsOut", c.packets_out);
  number("bytesOut", c.bytes_out);
  number("rtcpIn", c.rtcp_in);
  number("rtcpOut", c.rtcp_out);
  number("dropInvalid", c.drop_invalid);
  number("dropStranger", c.drop_stranger);
  number("dropNoPeer", c.drop_no_peer);
  number("dropSendError", c.drop_send_error);
}

Napi::Object LegCountersObject(Napi::Env env, const Stream::Leg& leg) {
  Napi::Object object = Napi::Object::New(env);
  SetCounters(env, object, leg.counters);
  auto number = [&](const char* name, double value) { object.Set(name, Napi::Number::New(env, value)); };
  number("dropRefused", static_cast<double>(leg.latch.refused()));
  object.Set("lastRefused", PeerValue(env, leg.latch.last_refused()));
  number("latchChanges", static_cast<double>(leg.latch.latch_changes()));
  object.Set("rtpPeer", PeerValue(env, leg.latch.RtpPeer()));
  object.Set("rtcpPeer", PeerValue(env, leg.latch.RtcpPeer()));
  object.Set("ssrc", leg.latch.has_ssrc() ? Napi::Number::New(env, leg.latch.ssrc()) : env.Null());
  number("lastActivityMs", static_cast<double>(leg.latch.last_activity_ms()));
  return object;
}


enum class IoChoice : uint8_t { kAuto, kUring, kEpoll };

IoChoice ParseIo(const std::string& name, const char* what) {
  if (name == "auto") return IoChoice::kAuto;
  if (name == "uring") return IoChoice::kUring;
  if (name == "epoll") return IoChoice::kEpoll;
  ArgError(std::string(what) + " must be 'auto', 'uring' or 'epoll'");
}

// The data path: createRelay({io}) first, then the PINLATCH_IO environment variable, else auto
// (io_uring where the kernel has what the relay needs, epoll otherwise).
IoChoice ChooseIo(const Napi::Value& option) {
  if (!option.IsUndefined()) {
    if (!option.IsString()) ArgError("options.io must be 'auto', 'uring' or 'epoll'");
    return ParseIo(option.As<Napi::String>().Utf8Value(), "options.io");
  }
  const char* variable = std::getenv("PINLATCH_IO");
  if (variable == nullptr || *variable == '\0') return IoChoice::kAuto;
  return ParseIo(variable, "PINLATCH_IO");
}

}  // namespace

Napi::Function Relay::DefineClass(Napi::Env env) {
  return ObjectWrap<Relay>::DefineClass(env, "NativeRelay",
                                        {
                                            InstanceMethod<&Relay::OpenStream>("openStream"),
                                            InstanceMethod<&Relay::SetLeg>("setLeg"),
                                            InstanceMethod<&Relay::CloseStream>("closeStream"),
                                            InstanceMethod<&Relay::Stats>("stats"),
                                            InstanceMethod<&Relay::Totals>("totals"),
                                            InstanceMethod<&Relay::Idle>("idle"),
                                            InstanceMethod<&Relay::TakeLatchChanges>("takeLatchChanges"),
                                            InstanceMethod<&Relay::RestoreLatch>("restoreLatch"),
                                            InstanceMethod<&Relay::Refusals>("refusals"),
                                            InstanceAccessor<&Relay::Size>("size"),
                                            InstanceAccessor<&Relay::SpareSocketCount>("spareSockets"),
                                            InstanceAccessor<&Relay::Engine>("engine"),
                                            InstanceAccessor<&Relay::SocketBuffers>("socketBuffers"),
                                            InstanceMethod<&Relay::Close>("close"),
                                            InstanceAccessor<&Relay::ControlToken>("controlToken"),
                                            InstanceMethod<&Relay::TakeCommandErrors>("takeCommandErrors"),
                                        });
}

Relay::Relay(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Relay>(info) {
  Napi::Env env = info.Env();
  Guard(env, [&] {
    env_loop_ = env.GetInstanceData<PinlatchAddon>()->env_loop();
    if (env_loop_->tearing_down()) throw NativeError(kErrClosed, "the environment is shutting down");
    unsigned batch = BatchBuffers::kDefaultBatch;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsObject()) ArgError("options must be an object");
      const Napi::Object options = info[0].As<Napi::Object>();
      if (!options.Get("batch").IsUndefined()) {
        batch = static_cast<unsigned>(IntegerField(options, "batch", 1, BatchBuffers::kMaxBatch));
      }
      if (!options.Get("receiveBufferBytes").IsUndefined()) {
        socket_buffers_.receive_bytes = static_cast<int>(
            IntegerField(options, "receiveBufferBytes", kMinSocketBufferBytes, kMaxSocketBufferBytes));
      }
      if (!options.Get("sendBufferBytes").IsUndefined()) {
        socket_buffers_.send_bytes =
            static_cast<int>(IntegerField(options, "sendBufferBytes", kMinSocketBufferBytes, kMaxSocketBufferBytes));
      }
    }
    buffers_ = std::make_unique<BatchBuffers>(batch);
    granted_buffers_ = ProbeSocketBuffers(socket_buffers_);
    const IoChoice io = ChooseIo(info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>().Get("io")
                                                                          : env.Undefined());
    if (io != IoChoice::kEpoll) {
      int error_errno = 0;
      uring_ = UringEngine::Create(env_loop_, &error_errno);
      if (!uring_ && io == IoChoice::kUring) {
        throw NativeError(kErrSocket,
                          error_errno == 0 ? "io_uring lacks a feature the relay needs (kernel 6.10 or later)"
                                           : "io_uring is not available",
                          error_errno, "io_uring_setup");
      }
    }
    channel_ = std::make_shared<ControlChannel>(socket_buffers_);
    wake_ = new Wake();
    wake_->env = env_loop_;
    wake_->relay = this;
    wake_->async.data = wake_;
    wake_->check.data = wake_;
    int rc = uv_async_init(env_loop_->loop(), &wake_->async, &OnWake);
    if (rc != 0) {
      delete wake_;
      wake_ = nullptr;
      throw NativeError(kErrSocket, "uv_async_init failed", -rc, "uv_async_init");
    }
    wake_->open_handles = 1;
    rc = uv_check_init(env_loop_->loop(), &wake_->check);
    if (rc == 0) {
      wake_->open_handles = 2;
      rc = uv_check_start(&wake_->check, &OnLoopIteration);
    }
    if (rc != 0) {
      CloseAll();
      throw NativeError(kErrSocket, "uv_check_start failed", -rc, "uv_check_start");
    }
    // Like the stream sockets' polls, neither handle keeps the loop alive by itself.
    uv_unref(reinterpret_cast<uv_handle_t*>(&wake_->async));
    uv_unref(reinterpret_cast<uv_handle_t*>(&wake_->check));
    channel_->Attach(&wake_->async);
    env_loop_->Register(this);
  });
}

Relay::~Relay() {
  CloseAll();
  if (env_loop_) env_loop_->Unregister(this);
}

void Relay::OnWake(uv_async_t* handle) {
  Wake* wake = static_cast<Wake*>(handle->data);
  if (wake->relay != nullptr) wake->relay->DrainCommands();
}

void Relay::OnLoopIteration(uv_check_t* handle) {
  Wake* wake = static_cast<Wake*>(handle->data);
  if (wake->relay != nullptr) wake->relay->DrainCommands();
}

void Relay::OnWakeClosed(uv_handle_t* handle) {
  Wake* wake = static_cast<Wake*>(handle->data);
  std::shared_ptr<EnvLoop> env = wake->env;
  if (--wake->open_handles == 0) delete wake;
  env->OnCloseFinished();
}

void Relay::CloseAll() {
  closed_ = true;
  // Commands still queued are dropped here: the sockets they carry close with them.
  if (channel_) channel_->Close();
  if (wake_ != nullptr) {
    // Detached from the channel above, so no thread sends on it any more; the environment's
    // teardown waits for the close callback (EnvLoop) before the loop closes.
    wake_->relay = nullptr;
    const int handles = wake_->open_handles;
    uv_handle_t* const owned[2] = {reinterpret_cast<uv_handle_t*>(&wake_->async),
                                   reinterpret_cast<uv_handle_t*>(&wake_->check)};
    for (int i = 0; i < handles; ++i) {
      wake_->env->OnCloseStarted();
      uv_close(owned[i], &OnWakeClosed);
    }
    wake_ = nullptr;
  }
  streams_.clear();
  if (uring_) uring_->Close();
}

void Relay::DrainCommands() {
  if (closed_) return;
  for (ControlCommand& command : channel_->Take()) Apply(command);
  channel_->spares().TopUp();
}

void Relay::Apply(ControlCommand& command) {
  switch (command.kind) {
    case ControlCommand::Kind::kOpen:
      try {
        streams_.emplace(command.id, std::make_unique<Stream>(command.id, env_loop_, buffers_.get(), uring_.get(),
                                                              std::move(*command.sockets)));
        ++closed_totals_.streams_opened;
      } catch (const NativeError& error) {
        // The main thread already answered the offer: count and report it (takeCommandErrors);
        // the sockets closed when the Stream constructor unwound. Later commands for the id find
        // no stream and are ignored.
        ++command_errors_;
        if (command_error_texts_.size() < kMaxCommandErrorTexts) {
          command_error_texts_.push_back("stream " + std::to_string(command.id) + ": " + error.what() +
                                         (error.sys_errno() != 0 ? std::string(" (") + uv_err_name(-error.sys_errno()) + ")" : ""));
        }
        channel_->ForgetStream(command.id);
      }
      return;
    case ControlCommand::Kind::kSetLeg: {
      auto found = streams_.find(command.id);
      if (found == streams_.end()) return;
      found->second->leg(command.leg).latch.SetPolicy(command.policy);
      found->second->Negotiated();
      return;
    }
    case ControlCommand::Kind::kClose: {
      auto found = streams_.find(command.id);
      if (found == streams_.end()) return;
      closed_totals_.Add(*found->second);
      streams_.erase(found);
      return;
    }
  }
}

void Relay::Sync(Napi::Env env) {
  EnsureOpen(env);
  DrainCommands();
}

void Relay::EnsureOpen(Napi::Env env) const {
  if (closed_) throw ToJsError(env, NativeError(kErrClosed, "the relay is closed"));
}

Napi::Value Relay::OpenStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  return Guard(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) ArgError("openStream(spec) needs a spec object");
    const Napi::Object spec = info[0].As<Napi::Object>();
    const uint16_t a_port = static_cast<uint16_t>(IntegerField(spec, "aPort", 2, 65534));
    const uint16_t b_port = static_cast<uint16_t>(IntegerField(spec, "bPort", 2, 65534));
    if (a_port % 2 != 0 || b_port % 2 != 0) ArgError("aPort and bPort must be even (RTCP uses port + 1)");
    if (a_port == b_port) ArgError("aPort and bPort must differ");
    const SocketAddress local = AddressField(spec, "address", 0);
    std::unique_ptr<StreamSockets> sockets = StreamSockets::Bind(local, a_port, b_port, channel_->spares());
    const uint32_t id = channel_->NextStreamId();
    streams_.emplace(id, std::make_unique<Stream>(id, env_loop_, buffers_.get(), uring_.get(), std::move(*sockets)));
    channel_->NoteStream(id, local.family());
    ++closed_totals_.streams_opened;
    return Napi::Number::New(env, id);
  });
}

void Relay::SetLeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  Guard(env, [&] {
    if (info.Length() < 3) ArgError("setLeg(id, leg, policy) needs three arguments");
    const uint32_t id = StreamId(info[0]);
    const std::string leg_name = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    if (leg_name != "a" && leg_name != "b") ArgError("leg must be 'a' or 'b'");
    auto found = streams_.find(id);
    if (found == streams_.end()) ArgError("unknown stream id " + std::to_string(id));
    Stream& stream = *found->second;
    const LatchPolicy policy = ParsePolicy(info[2], stream.family());
    stream.leg(leg_name == "a" ? 0 : 1).latch.SetPolicy(policy);
    stream.Negotiated();
  });
}

void Relay::CloseStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  Guard(env, [&] {
    if (info.Length() < 1) ArgError("closeStream(id) needs an id");
    auto found = streams_.find(StreamId(info[0]));
    if (found == streams_.end()) return;
    closed_totals_.Add(*found->second);
    channel_->ForgetStream(found->first);
    streams_.erase(found);
  });
}

Napi::Object Relay::StreamCounters(Napi::Env env, const Stream& stream) const {
  Napi::Object object = Napi::Object::New(env);
  object.Set("id", Napi::Number::New(env, stream.id()));
  object.Set("a", LegCountersObject(env, stream.leg(0)));
  object.Set("b", LegCountersObject(env, stream.leg(1)));
  return object;
}

Napi::Value Relay::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  return Guard(env, [&]() -> Napi::Value {
    Napi::Array result = Napi::Array::New(env);
    uint32_t index = 0;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsArray()) ArgError("stats(ids) needs an array of stream ids");
      const Napi::Array ids = info[0].As<Napi::Array>();
      for (uint32_t i = 0; i < ids.Length(); ++i) {
        auto found = streams_.find(StreamId(ids.Get(i)));
        if (found != streams_.end()) result.Set(index++, StreamCounters(env, *found->second));
      }
    } else {
      for (const auto& entry : streams_) result.Set(index++, StreamCounters(env, *entry.second));
    }
    return result;
  });
}

Napi::Value Relay::Totals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  RelayTotals totals = closed_totals_;
  for (const auto& entry : streams_) totals.Add(*entry.second);
  Napi::Object object = Napi::Object::New(env);
  SetCounters(env, object, totals.counters);
  auto number = [&](const char* name, uint64_t value) { object.Set(name, Napi::Number::New(env, static_cast<double>(value))); };
  number("dropRefused", totals.drop_refused);
  number("latchChanges", totals.latch_changes);
  number("streamsOpened", totals.streams_opened);
  number("streams", streams_.size());
  number("commandErrors", command_errors_);
  return object;
}

Napi::Value Relay::Idle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  return Guard(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) ArgError("idle(idleMs) needs a number");
    const double idle_ms = info[0].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(idle_ms) || idle_ms < 0) ArgError("idleMs must be a finite number >= 0");
    const int64_t now = MonotonicMs();
    Napi::Array result = Napi::Array::New(env);
    uint32_t index = 0;
    for (const auto& entry : streams_) {
      if (static_cast<double>(now - entry.second->LastActivityMs()) >= idle_ms) {
        result.Set(index++, Napi::Number::New(env, entry.first));
      }
    }
    return result;
  });
}

Napi::Value Relay::TakeLatchChanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  Napi::Array result = Napi::Array::New(env);
  uint32_t index = 0;
  for (auto& entry : streams_) {
    for (int leg = 0; leg < 2; ++leg) {
      Stream::Leg& state = entry.second->leg(leg);
      if (!state.latch.TakeChanged()) continue;
      Napi::Object change = Napi::Object::New(env);
      change.Set("id", Napi::Number::New(env, entry.first));
      change.Set("leg", Napi::String::New(env, leg == 0 ? "a" : "b"));
      change.Set("rtpPeer", PeerValue(env, state.latch.RtpPeer()));
      change.Set("rtcpPeer", PeerValue(env, state.latch.RtcpPeer()));
      result.Set(index++, change);
    }
  }
  return result;
}

Napi::Value Relay::Refusals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  Napi::Array result = Napi::Array::New(env);
  uint32_t index = 0;
  for (const auto& entry : streams_) {
    for (int leg = 0; leg < 2; ++leg) {
      LatchState& latch = entry.second->leg(leg).latch;
      if (!latch.TakeRefusalReport()) continue;
      Napi::Object report = Napi::Object::New(env);
      report.Set("id", Napi::Number::New(env, entry.first));
      report.Set("leg", Napi::String::New(env, leg == 0 ? "a" : "b"));
      report.Set("source", PeerValue(env, latch.last_refused()));
      report.Set("refused", Napi::Number::New(env, static_cast<double>(latch.refused_since_policy())));
      result.Set(index++, report);
    }
  }
  return result;
}

Napi::Value Relay::RestoreLatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sync(env);
  return Guard(env, [&]() -> Napi::Value {
    if (info.Length() < 3 || !info[2].IsObject()) ArgError("restoreLatch(id, leg, peers) needs three arguments");
    const uint32_t id = StreamId(info[0]);
    const std::string leg_name = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    if (leg_name != "a" && leg_name != "b") ArgError("leg must be 'a' or 'b'");
    auto found = streams_.find(id);
    if (found == streams_.end()) ArgError("unknown stream id " + std::to_string(id));
    const Napi::Object peers = info[2].As<Napi::Object>();
    LatchState& latch = found->second->leg(leg_name == "a" ? 0 : 1).latch;
    const int64_t now = MonotonicMs();
    uint32_t restored = 0;
    const std::pair<const char*, Channel> channels[] = {{"rtpPeer", Channel::kRtpSocket},
                                                        {"rtcpPeer", Channel::kRtcpSocket}};
    for (const auto& [name, channel] : channels) {
      const Napi::Value value = peers.Get(name);
      if (value.IsUndefined() || value.IsNull()) continue;
      const SocketAddress peer = EndpointField(peers, name);
      if (peer.family() != found->second->family()) ArgError(std::string(name) + " is not of the stream's address family");
      if (latch.Restore(channel, peer, now)) ++restored;
    }
    return Napi::Number::New(env, restored);
  });
}

Napi::Value Relay::Size(const Napi::CallbackInfo& info) {
  DrainCommands();
  return Napi::Number::New(info.Env(), static_cast<double>(streams_.size()));
}

Napi::Value Relay::SpareSocketCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), channel_ ? static_cast<double>(channel_->spares().count()) : 0);
}

Napi::Value Relay::Engine(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), uring_ ? "uring" : "epoll");
}

Napi::Value Relay::SocketBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object object = Napi::Object::New(env);
  object.Set("receiveBytes", Napi::Number::New(env, socket_buffers_.receive_bytes));
  object.Set("sendBytes", Napi::Number::New(env, socket_buffers_.send_bytes));
  object.Set("grantedReceiveBytes", Napi::Number::New(env, granted_buffers_.receive_bytes));
  object.Set("grantedSendBytes", Napi::Number::New(env, granted_buffers_.send_bytes));
  return object;
}

void Relay::Close(const Napi::CallbackInfo&) { CloseAll(); }

Napi::Value Relay::ControlToken(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureOpen(env);
  return Napi::Number::New(env, channel_->token());
}

Napi::Value Relay::TakeCommandErrors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("count", Napi::Number::New(env, static_cast<double>(command_errors_)));
  Napi::Array texts = Napi::Array::New(env, command_error_texts_.size());
  for (uint32_t i = 0; i < command_error_texts_.size(); ++i) texts.Set(i, Napi::String::New(env, command_error_texts_[i]));
  result.Set("errors", texts);
  command_error_texts_.clear();
  return result;
}

Napi::Function RelayControl::DefineClass(Napi::Env env) {
  return ObjectWrap<RelayControl>::DefineClass(env, "RelayControl",
                                               {
                                                   InstanceMethod<&RelayControl::OpenStreams>("openStreams"),
                                                   InstanceMethod<&RelayControl::SetLegs>("setLegs"),
                                                   InstanceMethod<&RelayControl::CloseStreams>("closeStreams"),
                                                   InstanceMethod<&RelayControl::Wake>("wake"),
                                               });
}

RelayControl::RelayControl(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RelayControl>(info) {
  Napi::Env env = info.Env();
  Guard(env, [&] {
    if (info.Length() < 1 || !info[0].IsNumber()) ArgError("connect(token) needs the relay's controlToken");
    const double token = info[0].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(token) || std::floor(token) != token || token < 1 || token > 4294967295.0) {
      ArgError("controlToken must be a positive integer");
    }
    channel_ = ControlChannel::Find(static_cast<uint32_t>(token));
    if (!channel_) throw NativeError(kErrClosed, "the relay is closed");
  });
}

namespace {

uint8_t LegIndex(const Napi::Value& value) {
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name != "a" && name != "b") ArgError("leg must be 'a' or 'b'");
  return name == "a" ? 0 : 1;
}

ControlCommand SetLegCommand(uint32_t id, const Napi::Object& setting, int family) {
  ControlCommand command;
  command.kind = ControlCommand::Kind::kSetLeg;
  command.id = id;
  command.leg = LegIndex(setting.Get("leg"));
  command.policy = ParsePolicy(setting.Get("policy"), family);
  return command;
}

}  // namespace

// openStreams(specs, legs?): binds every spec's four sockets on this thread, then hands them to
// the relay with the legs' policies in one push. All or nothing: a failure throws (with `index`,
// the spec that failed) and closes whatever this call bound.
Napi::Value RelayControl::OpenStreams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    throw ToJsError(env, NativeError(kErrArg, "openStreams(specs, legs?) needs an array of specs"));
  }
  const Napi::Array specs = info[0].As<Napi::Array>();
  std::vector<ControlCommand> commands;
  commands.reserve(specs.Length());
  uint32_t index = 0;
  try {
    if (specs.Length() == 0 || specs.Length() > 1024) ArgError("openStreams takes 1..1024 specs");
    for (; index < specs.Length(); ++index) {
      const Napi::Value value = specs.Get(index);
      if (!value.IsObject()) ArgError("openStreams: every spec must be an object");
      const Napi::Object spec = value.As<Napi::Object>();
      const uint16_t a_port = static_cast<uint16_t>(IntegerField(spec, "aPort", 2, 65534));
      const uint16_t b_port = static_cast<uint16_t>(IntegerField(spec, "bPort", 2, 65534));
      if (a_port % 2 != 0 || b_port % 2 != 0) ArgError("aPort and bPort must be even (RTCP uses port + 1)");
      if (a_port == b_port) ArgError("aPort and bPort must differ");
      const SocketAddress local = AddressField(spec, "address", 0);
      ControlCommand command;
      command.kind = ControlCommand::Kind::kOpen;
      command.sockets = StreamSockets::Bind(local, a_port, b_port, channel_->spares());
      commands.push_back(std::move(command));
    }
    const uint32_t opened = static_cast<uint32_t>(commands.size());
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsArray()) ArgError("openStreams: legs must be an array");
      const Napi::Array legs = info[1].As<Napi::Array>();
      if (legs.Length() > 2 * opened) ArgError("openStreams: more legs than the streams have");
      for (uint32_t i = 0; i < legs.Length(); ++i) {
        const Napi::Value value = legs.Get(i);
        if (!value.IsObject()) ArgError("openStreams: every leg must be an object");
        const Napi::Object setting = value.As<Napi::Object>();
        index = static_cast<uint32_t>(IntegerField(setting, "spec", 0, opened - 1));
        commands.push_back(SetLegCommand(0, setting, commands[index].sockets->family));
        commands.back().id = index;  // the spec's index until ids are given out below
      }
    }
    // Ids are taken last: a batch that failed above consumed none.
    Napi::Array ids = Napi::Array::New(env, opened);
    for (uint32_t i = 0; i < opened; ++i) {
      commands[i].id = channel_->NextStreamId();
      ids.Set(i, Napi::Number::New(env, commands[i].id));
    }
    for (uint32_t i = opened; i < commands.size(); ++i) commands[i].id = commands[commands[i].id].id;
    channel_->Push(commands);
    return ids;
  } catch (const NativeError& error) {
    Napi::Error js = ToJsError(env, error);
    js.Set("index", Napi::Number::New(env, index));
    throw js;
  }
}

// setLegs([{id, leg, policy}]): every policy is checked here (an error throws and pushes nothing),
// then all are pushed at once.
void RelayControl::SetLegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Guard(env, [&] {
    if (info.Length() < 1 || !info[0].IsArray()) ArgError("setLegs(legs) needs an array");
    const Napi::Array legs = info[0].As<Napi::Array>();
    if (legs.Length() > 2048) ArgError("setLegs takes at most 2048 legs");
    std::vector<ControlCommand> commands;
    commands.reserve(legs.Length());
    for (uint32_t i = 0; i < legs.Length(); ++i) {
      const Napi::Value value = legs.Get(i);
      if (!value.IsObject()) ArgError("setLegs: every leg must be an object");
      const Napi::Object setting = value.As<Napi::Object>();
      const uint32_t id = StreamId(setting.Get("id"));
      const int family = channel_->StreamFamily(id);
      if (family == 0) ArgError("unknown stream id " + std::to_string(id));
      commands.push_back(SetLegCommand(id, setting, family));
    }
    channel_->Push(commands);
  });
}

void RelayControl::Wake(const Napi::CallbackInfo&) { channel_->Wake(); }

// closeStreams(ids): unknown ids are ignored by the relay, as closeStream does.
void RelayControl::CloseStreams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Guard(env, [&] {
    if (info.Length() < 1 || !info[0].IsArray()) ArgError("closeStreams(ids) needs an array");
    const Napi::Array ids = info[0].As<Napi::Array>();
    if (ids.Length() > 2048) ArgError("closeStreams takes at most 2048 ids");
    std::vector<ControlCommand> commands(ids.Length());
    for (uint32_t i = 0; i < ids.Length(); ++i) {
      commands[i].kind = ControlCommand::Kind::kClose;
      commands[i].id = StreamId(ids.Get(i));
    }
    channel_->Push(commands);
  });
}

}  // namespace pinlatch
