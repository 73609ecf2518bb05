// One vCPU = one dedicated native thread. Hypervisor.framework binds a vCPU to the thread
// that created it ("Must be called by the owning thread"), so that thread calls
// hv_vcpu_create, every register access, hv_vcpu_run and hv_vcpu_destroy. JavaScript talks
// to it through a task queue (mutex + condition variable):
//   - run() and destroy() are asynchronous: the result comes back on the JS thread through
//     a Napi::ThreadSafeFunction, which settles a Promise.
//   - register get/set are synchronous cross-thread calls: the JS thread queues the access
//     and waits for the vCPU thread, which is idle because a vCPU is only inspected while
//     stopped at an exit. Access while run() is in flight is refused with HV_BUSY instead of
//     blocking the event loop for a whole guest time slice.
//   - requestExit() calls hv_vcpus_exit, which has no owning-thread rule.
#pragma once

#include <Hypervisor/Hypervisor.h>
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace nodevisor_hvf {

class VcpuThread {
 public:
  using Task = std::function<void()>;

  VcpuThread(uint32_t index, Napi::ThreadSafeFunction tsfn);
  ~VcpuThread();
  VcpuThread(const VcpuThread&) = delete;
  VcpuThread& operator=(const VcpuThread&) = delete;

  // Starts the thread; it calls hv_vcpu_create and then `created(result)` on itself.
  void Start(std::function<void(hv_return_t)> created);
  // Queues work for the vCPU thread (never blocks).
  void Post(Task task);
  // Runs `fn` on the vCPU thread and waits for its result.
  hv_return_t CallSync(const std::function<hv_return_t()>& fn);
  // Asks the thread to leave its loop after the queued tasks; Join() waits for it.
  void Quit();
  void Join();

  hv_vcpu_t id() const { return vcpu_.load(); }
  hv_vcpu_exit_t* exit_record() const { return exit_; }
  bool created() const { return created_.load(); }
  Napi::ThreadSafeFunction& tsfn() { return tsfn_; }

  std::atomic<bool> running{false};    // a run() is queued or inside hv_vcpu_run
  std::atomic<bool> destroyed{false};  // hv_vcpu_destroy was queued
  uint32_t pending_async = 0;          // JS thread only: create/run/destroy in flight

 private:
  void Loop(std::function<void(hv_return_t)> created);

  const uint32_t index_;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool quit_ = false;
  std::atomic<hv_vcpu_t> vcpu_{0};
  std::atomic<bool> created_{false};
  hv_vcpu_exit_t* exit_ = nullptr;
};

class VcpuWrap : public Napi::ObjectWrap<VcpuWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit VcpuWrap(const Napi::CallbackInfo& info);
  ~VcpuWrap() override;

  void Attach(VcpuThread* thread) { thread_ = thread; }

 private:
  bool Usable(Napi::Env env);
  Napi::Value Sync(Napi::Env env, const char* call, const std::function<hv_return_t()>& fn);

  Napi::Value Id(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value RequestExit(const Napi::CallbackInfo& info);
  Napi::Value GetReg(const Napi::CallbackInfo& info);
  Napi::Value SetReg(const Napi::CallbackInfo& info);
  Napi::Value GetSimdFpReg(const Napi::CallbackInfo& info);
  Napi::Value SetSimdFpReg(const Napi::CallbackInfo& info);
  Napi::Value GetSysReg(const Napi::CallbackInfo& info);
  Napi::Value SetSysReg(const Napi::CallbackInfo& info);
  Napi::Value GetPendingInterrupt(const Napi::CallbackInfo& info);
  Napi::Value SetPendingInterrupt(const Napi::CallbackInfo& info);
  Napi::Value GetVtimerMask(const Napi::CallbackInfo& info);
  Napi::Value SetVtimerMask(const Napi::CallbackInfo& info);
  Napi::Value GetVtimerOffset(const Napi::CallbackInfo& info);
  Napi::Value SetVtimerOffset(const Napi::CallbackInfo& info);
  Napi::Value GetTrapDebugExceptions(const Napi::CallbackInfo& info);
  Napi::Value SetTrapDebugExceptions(const Napi::CallbackInfo& info);
  Napi::Value GetTrapDebugRegAccesses(const Napi::CallbackInfo& info);
  Napi::Value SetTrapDebugRegAccesses(const Napi::CallbackInfo& info);
  Napi::Value GetExecTime(const Napi::CallbackInfo& info);
  Napi::Value GetGicRedistributorBase(const Napi::CallbackInfo& info);
  Napi::Value GetGicIccReg(const Napi::CallbackInfo& info);
  Napi::Value SetGicIccReg(const Napi::CallbackInfo& info);
  Napi::Value GetGicRedistributorReg(const Napi::CallbackInfo& info);
  Napi::Value SetGicRedistributorReg(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);

  VcpuThread* thread_ = nullptr;  // owned; deleted after the thread has been joined
};

// createVcpu(): Promise<NativeVcpu>. Defined in vcpu.mm, exported by addon.mm.
Napi::Value CreateVcpu(const Napi::CallbackInfo& info);
// Number of vCPUs alive (created and not destroyed); the VM refuses to go away before 0.
uint32_t LiveVcpuCount();

}  // namespace nodevisor_hvf
