// FramePort: one fd that carries one Ethernet frame per read/write (a tap device or a
// datagram socket), watched by a uv_poll_t on the JavaScript thread's loop, so frames reach
// JS without threads or blocking. new FramePort(fd, maxFrame, onFrame, onError) takes over
// the fd; close() releases it. Frames longer than maxFrame (or truncated by the receive
// buffer) are dropped and counted, never delivered in part. A frame the kernel cannot take
// yet (EAGAIN: the peer's queue is full, ENOBUFS on macOS) waits in a bounded queue that
// drains when the fd turns writable (or, for ENOBUFS, on a short timer); past the bound the
// frame is dropped, as a NIC's full ring would.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace nodevisor_netdev {

class FramePort : public Napi::ObjectWrap<FramePort> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit FramePort(const Napi::CallbackInfo& info);
  ~FramePort() override;

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnEnvCleanup(void* arg);
  void Drain();
  /** Sends queued frames until the queue empties or the kernel pushes back again. */
  void Flush();
  /** After EAGAIN/ENOBUFS: wait for writability or the retry timer. */
  void ArmRetry(int err);
  void DisarmRetry();
  static void OnRetryTimer(uv_timer_t* timer);
  /** Calls back into JS; false when the port must stop (closed, or the callback threw). */
  bool Deliver(Napi::FunctionReference& fn, Napi::Value arg);
  void ReportError(const char* syscall, int err, bool fatal);
  /** Stops and closes the poll handle; unref drops the self-reference taken while polling. */
  void StopPolling(bool unref);
  void CloseFd();

  int fd_ = -1;
  bool is_socket_ = false;
  size_t max_frame_ = 0;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  bool want_writable_ = false;
  std::deque<std::vector<uint8_t>> txq_;
  size_t txq_bytes_ = 0;
  double tx_queued_ = 0;
  double tx_queue_full_ = 0;
  double tx_errors_ = 0;
  bool cleanup_hook_ = false;
  Napi::FunctionReference on_frame_;
  Napi::FunctionReference on_error_;
  std::unique_ptr<Napi::AsyncContext> async_;
  std::vector<uint8_t> buf_;
  double rx_frames_ = 0;
  double rx_oversize_ = 0;
  double rx_errors_ = 0;
};

}  // namespace nodevisor_netdev
