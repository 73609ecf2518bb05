#include "frame_port.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>

#include "errors.h"

namespace nodevisor_netdev {

namespace {

// Larger than any frame (64 KiB TSO frame plus headers), so a datagram that still fills it
// is known to be oversized; MSG_TRUNC catches the ones larger still.
constexpr size_t kRecvBufferBytes = 65536 + 256;
// Frames read per poll callback before yielding to the rest of the loop.
constexpr int kFramesPerWake = 256;
// The transmit queue's bound: a virtqueue's worth of frames, and no more than 1 MiB.
constexpr size_t kTxQueueFrames = 256;
constexpr size_t kTxQueueBytes = 1 << 20;
// macOS answers a full datagram peer with ENOBUFS and no writability event: retry this often.
constexpr uint64_t kNoBufsRetryMs = 1;

bool PushBack(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

bool Transient(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// Errors a datagram peer causes (it went away, or the host is short of buffers): reported,
// but the port keeps listening in case the peer comes back.
bool Recoverable(int err) { return err == ECONNREFUSED || err == ECONNRESET || err == ENOBUFS || err == ENOMEM || err == ENOTCONN; }

}  // namespace

Napi::Function FramePort::Define(Napi::Env env) {
  return DefineClass(env, "FramePort", {
    InstanceMethod<&FramePort::Send>("send"),
    InstanceMethod<&FramePort::Close>("close"),
    InstanceMethod<&FramePort::Stats>("stats"),
  });
}

FramePort::FramePort(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FramePort>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsFunction() || !info[3].IsFunction()) {
    Napi::TypeError::New(env, "FramePort(fd, maxFrame, onFrame, onError)").ThrowAsJavaScriptException();
    return;
  }
  double fd = info[0].As<Napi::Number>().DoubleValue();
  if (!(fd >= 0 && fd <= 2147483647.0) || fd != static_cast<double>(static_cast<int>(fd))) {
    Napi::TypeError::New(env, "fd must be a non-negative integer").ThrowAsJavaScriptException();
    return;
  }
  // From here the port owns the fd: every failure below closes it at once, so the caller
  // never closes it too (a later close could hit a reused descriptor number).
  fd_ = static_cast<int>(fd);
  double max = info[1].As<Napi::Number>().DoubleValue();
  // Up to a 64 KiB IP packet behind a VLAN-tagged Ethernet header and a virtio-net header (tap
  // with IFF_VNET_HDR and TSO); kRecvBufferBytes holds that.
  if (!(max >= 14 && max <= 65535 + 64) || max != static_cast<double>(static_cast<int>(max))) {
    CloseFd();
    Napi::RangeError::New(env, "maxFrame must be an integer from 14 to 65599").ThrowAsJavaScriptException();
    return;
  }
  struct stat st;
  if (fstat(fd_, &st) < 0) {
    int err = errno;
    std::string subject = "fd " + std::to_string(fd_);
    fd_ = -1;  // not an open descriptor: nothing to close
    ErrnoError(env, "fstat", err, subject).ThrowAsJavaScriptException();
    return;
  }
  is_socket_ = S_ISSOCK(st.st_mode);
  max_frame_ = static_cast<size_t>(max);
  on_frame_ = Napi::Persistent(info[2].As<Napi::Function>());
  on_error_ = Napi::Persistent(info[3].As<Napi::Function>());
  async_ = std::make_unique<Napi::AsyncContext>(env, "nodevisor_netdev.FramePort");
  buf_.resize(kRecvBufferBytes);

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    CloseFd();
    Napi::Error::New(env, "FramePort: no event loop").ThrowAsJavaScriptException();
    return;
  }
  poll_ = new uv_poll_t;
  int r = uv_poll_init(loop, poll_, fd_);
  if (r == 0) {
    poll_->data = this;
    r = uv_poll_start(poll_, UV_READABLE, OnPoll);
    if (r != 0) StopPolling(false);
  } else {
    delete poll_;
    poll_ = nullptr;
  }
  if (r != 0) {
    std::string subject = "fd " + std::to_string(fd_);
    CloseFd();
    ErrnoError(env, "uv_poll_start", -r, subject).ThrowAsJavaScriptException();
    return;
  }
  timer_ = new uv_timer_t;
  uv_timer_init(loop, timer_);
  timer_->data = this;
  // The retry timer alone must not keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  // Polling keeps this object alive: the loop's callbacks point at it.
  Ref();
  cleanup_hook_ = napi_add_env_cleanup_hook(env, OnEnvCleanup, this) == napi_ok;
}

FramePort::~FramePort() {
  StopPolling(false);
  CloseFd();
}

void FramePort::OnEnvCleanup(void* arg) {
  // The environment is going away (process or worker exit): release the loop handle
  // without touching JavaScript.
  auto* self = static_cast<FramePort*>(arg);
  self->cleanup_hook_ = false;
  self->StopPolling(false);
  self->CloseFd();
}

void FramePort::StopPolling(bool unref) {
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
    cleanup_hook_ = false;
  }
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
  txq_.clear();
  txq_bytes_ = 0;
  if (poll_ == nullptr) return;
  uv_poll_stop(poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll_ = nullptr;
  if (unref) Unref();
}

void FramePort::CloseFd() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void FramePort::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<FramePort*>(handle->data);
  if (self == nullptr || self->poll_ != handle) return;
  Napi::HandleScope scope(self->Env());
  if (status < 0) {
    self->ReportError("uv_poll", -status, true);
    return;
  }
  if ((events & UV_WRITABLE) != 0) self->Flush();
  if ((events & UV_READABLE) != 0 && self->poll_ != nullptr) self->Drain();
}

void FramePort::OnRetryTimer(uv_timer_t* timer) {
  auto* self = static_cast<FramePort*>(timer->data);
  if (self == nullptr || self->timer_ != timer) return;
  Napi::HandleScope scope(self->Env());
  self->Flush();
}

void FramePort::ArmRetry(int err) {
  if (poll_ == nullptr) return;
  if (err == ENOBUFS) {
    if (timer_ != nullptr && !uv_is_active(reinterpret_cast<uv_handle_t*>(timer_))) uv_timer_start(timer_, OnRetryTimer, kNoBufsRetryMs, 0);
    return;
  }
  if (!want_writable_) {
    want_writable_ = true;
    uv_poll_start(poll_, UV_READABLE | UV_WRITABLE, OnPoll);
  }
}

void FramePort::DisarmRetry() {
  if (timer_ != nullptr) uv_timer_stop(timer_);
  if (want_writable_ && poll_ != nullptr) {
    want_writable_ = false;
    uv_poll_start(poll_, UV_READABLE, OnPoll);
  }
}

void FramePort::Flush() {
  while (!txq_.empty() && fd_ >= 0) {
    const std::vector<uint8_t>& f = txq_.front();
    ssize_t n;
    do {
      n = is_socket_ ? send(fd_, f.data(), f.size(), 0) : write(fd_, f.data(), f.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0 && PushBack(errno)) {
      int err = errno;
      if (err == ENOBUFS) DisarmRetry();  // writability would not tell us when
      ArmRetry(err);
      return;
    }
    if (n < 0) tx_errors_++;  // the peer went away meanwhile: this frame is lost
    txq_bytes_ -= f.size();
    txq_.pop_front();
  }
  DisarmRetry();
}

bool FramePort::Deliver(Napi::FunctionReference& fn, Napi::Value arg) {
  Napi::Env env = Env();
  fn.MakeCallback(Value(), {arg}, *async_);
  if (env.IsExceptionPending()) {
    // A throwing callback is the program's bug: surface it as Node does for any callback.
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
    return false;
  }
  return poll_ != nullptr;  // the callback may have closed the port
}

void FramePort::ReportError(const char* syscall, int err, bool fatal) {
  rx_errors_++;
  if (fatal) StopPolling(true);
  Napi::Error e = ErrnoError(Env(), syscall, err);
  e.Set("fatal", Napi::Boolean::New(Env(), fatal));
  Deliver(on_error_, e.Value());
}

void FramePort::Drain() {
  for (int i = 0; i < kFramesPerWake && poll_ != nullptr; i++) {
    ssize_t n;
    bool truncated = false;
    if (is_socket_) {
      struct iovec iov = {buf_.data(), buf_.size()};
      struct msghdr msg = {};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      n = recvmsg(fd_, &msg, 0);
      truncated = n >= 0 && (msg.msg_flags & MSG_TRUNC) != 0;
    } else {
      n = read(fd_, buf_.data(), buf_.size());
    }
    if (n < 0) {
      int err = errno;
      if (Transient(err)) return;
      ReportError(is_socket_ ? "recvmsg" : "read", err, !Recoverable(err));
      return;
    }
    if (n == 0) {
      // A zero-length datagram carries nothing; a tap read of 0 means the device is gone.
      if (!is_socket_) ReportError("read", EIO, true);
      continue;
    }
    if (truncated || static_cast<size_t>(n) > max_frame_) {
      rx_oversize_++;
      continue;
    }
    rx_frames_++;
    if (!Deliver(on_frame_, Napi::Buffer<uint8_t>::Copy(Env(), buf_.data(), static_cast<size_t>(n)))) return;
  }
}

Napi::Value FramePort::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "send(frame: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "send(frame: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array frame = ta.As<Napi::Uint8Array>();
  if (fd_ < 0) return Napi::Number::New(env, EBADF);
  const uint8_t* data = frame.Data();
  size_t len = frame.ByteLength();
  // Returns 0 or the errno: a dropped frame is routine on a network, not an exception.
  // Frames queued behind earlier ones keep their order.
  int err = 0;
  if (txq_.empty()) {
    ssize_t n;
    do {
      n = is_socket_ ? send(fd_, data, len, 0) : write(fd_, data, len);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return Napi::Number::New(env, 0);
    err = errno;
    if (!PushBack(err) || poll_ == nullptr) return Napi::Number::New(env, err);  // no loop to retry from
  }
  if (txq_.size() >= kTxQueueFrames || txq_bytes_ + len > kTxQueueBytes) {
    tx_queue_full_++;
    return Napi::Number::New(env, ENOBUFS);
  }
  txq_.emplace_back(data, data + len);
  txq_bytes_ += len;
  tx_queued_++;
  if (err != 0) ArmRetry(err);
  return Napi::Number::New(env, 0);
}

Napi::Value FramePort::Close(const Napi::CallbackInfo& info) {
  StopPolling(true);
  CloseFd();
  return info.Env().Undefined();
}

Napi::Value FramePort::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object s = Napi::Object::New(env);
  s.Set("rxFrames", Napi::Number::New(env, rx_frames_));
  s.Set("rxOversize", Napi::Number::New(env, rx_oversize_));
  s.Set("rxErrors", Napi::Number::New(env, rx_errors_));
  s.Set("txQueued", Napi::Number::New(env, tx_queued_));
  s.Set("txQueueFull", Napi::Number::New(env, tx_queue_full_));
  s.Set("txQueueLost", Napi::Number::New(env, tx_errors_));
  s.Set("txPending", Napi::Number::New(env, static_cast<double>(txq_.size())));
  return s;
}

}  // namespace nodevisor_netdev
