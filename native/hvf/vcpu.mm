// vCPU threads and the JS object that fronts them. Design: see vcpu.h.
#include "vcpu.h"

#include <mach/mach_time.h>
#include <pthread.h>

#include <cstring>
#include <string>

#include "addon.h"
#include "hv_errors.h"

namespace nodevisor_hvf {

namespace {

std::atomic<uint32_t> g_live_vcpus{0};

// Async operations in flight keep both the JS wrapper (so its finalizer cannot free the
// thread under a pending callback) and the thread-safe function (so Node keeps running
// until the Promise settles) referenced. JS-thread only.
struct AsyncHold {
  static void Acquire(Napi::Env env, VcpuWrap* wrap, VcpuThread* thread) {
    if (thread->pending_async++ == 0) {
      wrap->Ref();
      thread->tsfn().Ref(env);
    }
  }
  static void Release(Napi::Env env, VcpuWrap* wrap, VcpuThread* thread) {
    if (--thread->pending_async == 0) {
      thread->tsfn().Unref(env);
      wrap->Unref();
    }
  }
};

uint64_t MachToNanoseconds(uint64_t ticks) {
  // Function-local static: initialised once, thread-safely (vCPU threads call this too).
  static const mach_timebase_info_data_t timebase = []() {
    mach_timebase_info_data_t tb = {0, 0};
    mach_timebase_info(&tb);
    return tb;
  }();
  if (timebase.denom == 0 || timebase.numer == timebase.denom) return ticks;
  return static_cast<uint64_t>((static_cast<unsigned __int128>(ticks) * timebase.numer) / timebase.denom);
}

}  // namespace

uint32_t LiveVcpuCount() { return g_live_vcpus.load(); }

// ---------------------------------------------------------------------------------------
// VcpuThread

VcpuThread::VcpuThread(uint32_t index, Napi::ThreadSafeFunction tsfn) : index_(index), tsfn_(tsfn) {}

VcpuThread::~VcpuThread() {
  Quit();
  Join();
}

void VcpuThread::Start(std::function<void(hv_return_t)> created) {
  thread_ = std::thread([this, created]() { Loop(created); });
}

void VcpuThread::Post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

hv_return_t VcpuThread::CallSync(const std::function<hv_return_t()>& fn) {
  std::mutex m;
  std::condition_variable done_cv;
  bool done = false;
  hv_return_t result = HV_ERROR;
  Post([&]() {
    hv_return_t r = fn();
    std::lock_guard<std::mutex> lock(m);
    result = r;
    done = true;
    done_cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(m);
  done_cv.wait(lock, [&]() { return done; });
  return result;
}

void VcpuThread::Quit() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_one();
}

void VcpuThread::Join() {
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void VcpuThread::Loop(std::function<void(hv_return_t)> created) {
  std::string name = "nodevisor-vcpu-" + std::to_string(index_);
  pthread_setname_np(name.c_str());
  hv_vcpu_t vcpu = 0;
  hv_return_t r = hv_vcpu_create(&vcpu, &exit_, nullptr);
  if (r == HV_SUCCESS) {
    vcpu_.store(vcpu);
    created_.store(true);
  }
  created(r);
  if (r != HV_SUCCESS) return;
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this]() { return quit_ || !tasks_.empty(); });
      if (tasks_.empty()) break;  // quit requested and every queued task done
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

// ---------------------------------------------------------------------------------------
// VcpuWrap

Napi::Function VcpuWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeVcpu", {
    InstanceAccessor<&VcpuWrap::Id>("id"),
    InstanceMethod<&VcpuWrap::Run>("run"),
    InstanceMethod<&VcpuWrap::RequestExit>("requestExit"),
    InstanceMethod<&VcpuWrap::GetReg>("getReg"),
    InstanceMethod<&VcpuWrap::SetReg>("setReg"),
    InstanceMethod<&VcpuWrap::GetSimdFpReg>("getSimdFpReg"),
    InstanceMethod<&VcpuWrap::SetSimdFpReg>("setSimdFpReg"),
    InstanceMethod<&VcpuWrap::GetSysReg>("getSysReg"),
    InstanceMethod<&VcpuWrap::SetSysReg>("setSysReg"),
    InstanceMethod<&VcpuWrap::GetPendingInterrupt>("getPendingInterrupt"),
    InstanceMethod<&VcpuWrap::SetPendingInterrupt>("setPendingInterrupt"),
    InstanceMethod<&VcpuWrap::GetVtimerMask>("getVtimerMask"),
    InstanceMethod<&VcpuWrap::SetVtimerMask>("setVtimerMask"),
    InstanceMethod<&VcpuWrap::GetVtimerOffset>("getVtimerOffset"),
    InstanceMethod<&VcpuWrap::SetVtimerOffset>("setVtimerOffset"),
    InstanceMethod<&VcpuWrap::GetTrapDebugExceptions>("getTrapDebugExceptions"),
    InstanceMethod<&VcpuWrap::SetTrapDebugExceptions>("setTrapDebugExceptions"),
    InstanceMethod<&VcpuWrap::GetTrapDebugRegAccesses>("getTrapDebugRegAccesses"),
    InstanceMethod<&VcpuWrap::SetTrapDebugRegAccesses>("setTrapDebugRegAccesses"),
    InstanceMethod<&VcpuWrap::GetExecTime>("getExecTime"),
    InstanceMethod<&VcpuWrap::GetGicRedistributorBase>("getGicRedistributorBase"),
    InstanceMethod<&VcpuWrap::GetGicIccReg>("getGicIccReg"),
    InstanceMethod<&VcpuWrap::SetGicIccReg>("setGicIccReg"),
    InstanceMethod<&VcpuWrap::GetGicRedistributorReg>("getGicRedistributorReg"),
    InstanceMethod<&VcpuWrap::SetGicRedistributorReg>("setGicRedistributorReg"),
    InstanceMethod<&VcpuWrap::Destroy>("destroy"),
  });
}

VcpuWrap::VcpuWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VcpuWrap>(info) {}

VcpuWrap::~VcpuWrap() {
  // Garbage-collected (or environment teardown) without destroy(): stop the thread here.
  if (thread_ == nullptr) return;
  if (thread_->created() && !thread_->destroyed.exchange(true)) {
    hv_vcpu_t id = thread_->id();
    hv_vcpus_exit(&id, 1);
    VcpuThread* t = thread_;
    t->Post([t]() { hv_vcpu_destroy(t->id()); });
    g_live_vcpus.fetch_sub(1);
  }
  thread_->Quit();
  thread_->Join();
  thread_->tsfn().Release();
  delete thread_;
  thread_ = nullptr;
}

// A vCPU accepts calls once created, never after destroy(), and never while run() is in
// flight (the owning thread is inside hv_vcpu_run).
bool VcpuWrap::Usable(Napi::Env env) {
  if (thread_ == nullptr || !thread_->created()) {
    HvError(env, "vcpu", HV_NO_DEVICE, "vCPU not created").ThrowAsJavaScriptException();
    return false;
  }
  if (thread_->destroyed.load()) {
    HvError(env, "vcpu", HV_NO_DEVICE, "vCPU destroyed").ThrowAsJavaScriptException();
    return false;
  }
  if (thread_->running.load()) {
    HvError(env, "vcpu", HV_BUSY, "vCPU is running: call requestExit() and await run() first").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Value VcpuWrap::Sync(Napi::Env env, const char* call, const std::function<hv_return_t()>& fn) {
  if (!Usable(env)) return env.Undefined();
  hv_return_t r = thread_->CallSync(fn);
  if (r != HV_SUCCESS) return ThrowHv(env, call, r);
  return env.Undefined();
}

Napi::Value VcpuWrap::Id(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), thread_ ? static_cast<double>(thread_->id()) : -1.0);
}

Napi::Value VcpuWrap::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (thread_ == nullptr || !thread_->created() || thread_->destroyed.load()) {
    deferred.Reject(HvError(env, "hv_vcpu_run", HV_NO_DEVICE, "vCPU not available").Value());
    return deferred.Promise();
  }
  bool idle = false;
  if (!thread_->running.compare_exchange_strong(idle, true)) {
    deferred.Reject(HvError(env, "hv_vcpu_run", HV_BUSY, "run() already in flight").Value());
    return deferred.Promise();
  }
  AsyncHold::Acquire(env, this, thread_);
  VcpuThread* t = thread_;
  VcpuWrap* self = this;
  t->Post([t, self, deferred]() {
    hv_return_t r = hv_vcpu_run(t->id());
    uint64_t record[4] = {0, 0, 0, 0};
    if (r == HV_SUCCESS) {
      const hv_vcpu_exit_t* e = t->exit_record();
      record[0] = e->reason;
      record[1] = e->exception.syndrome;
      record[2] = e->exception.virtual_address;
      record[3] = e->exception.physical_address;
    }
    t->running.store(false);
    uint64_t r0 = record[0], r1 = record[1], r2 = record[2], r3 = record[3];
    t->tsfn().BlockingCall([t, self, deferred, r, r0, r1, r2, r3](Napi::Env env, Napi::Function) {
      if (r == HV_SUCCESS) {
        Napi::BigUint64Array exit = Napi::BigUint64Array::New(env, 4);
        exit[0] = r0;
        exit[1] = r1;
        exit[2] = r2;
        exit[3] = r3;
        deferred.Resolve(exit);
      } else {
        deferred.Reject(HvError(env, "hv_vcpu_run", r).Value());
      }
      AsyncHold::Release(env, self, t);
    });
  });
  return deferred.Promise();
}

Napi::Value VcpuWrap::RequestExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (thread_ == nullptr || !thread_->created() || thread_->destroyed.load()) return env.Undefined();
  hv_vcpu_t id = thread_->id();
  hv_return_t r = hv_vcpus_exit(&id, 1);
  if (r != HV_SUCCESS) return ThrowHv(env, "hv_vcpus_exit", r);
  return env.Undefined();
}

Napi::Value VcpuWrap::GetReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  if (!ToU32(info[0], &reg)) return env.Undefined();
  if (reg > HV_REG_CPSR) return ThrowHv(env, "hv_vcpu_get_reg", HV_BAD_ARGUMENT, "no such register " + std::to_string(reg));
  uint64_t value = 0;
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_reg", [t, reg, &value]() { return hv_vcpu_get_reg(t->id(), static_cast<hv_reg_t>(reg), &value); });
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::BigInt::New(env, value);
}

Napi::Value VcpuWrap::SetReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  uint64_t value = 0;
  if (!ToU32(info[0], &reg) || !ToU64(info[1], &value)) return env.Undefined();
  if (reg > HV_REG_CPSR) return ThrowHv(env, "hv_vcpu_set_reg", HV_BAD_ARGUMENT, "no such register " + std::to_string(reg));
  VcpuThread* t = thread_;
  return Sync(env, "hv_vcpu_set_reg", [t, reg, value]() { return hv_vcpu_set_reg(t->id(), static_cast<hv_reg_t>(reg), value); });
}

Napi::Value VcpuWrap::GetSimdFpReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = 0;
  if (!ToU32(info[0], &index)) return env.Undefined();
  if (index > HV_SIMD_FP_REG_Q31) return ThrowHv(env, "hv_vcpu_get_simd_fp_reg", HV_BAD_ARGUMENT, "Q index out of range");
  hv_simd_fp_uchar16_t value = {};
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_simd_fp_reg", [t, index, &value]() {
    return hv_vcpu_get_simd_fp_reg(t->id(), static_cast<hv_simd_fp_reg_t>(index), &value);
  });
  if (env.IsExceptionPending()) return env.Undefined();
  Napi::Uint8Array out = Napi::Uint8Array::New(env, 16);  // JS-owned memory
  std::memcpy(out.Data(), &value, 16);
  return out;
}

Napi::Value VcpuWrap::SetSimdFpReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = 0;
  if (!ToU32(info[0], &index)) return env.Undefined();
  if (index > HV_SIMD_FP_REG_Q31) return ThrowHv(env, "hv_vcpu_set_simd_fp_reg", HV_BAD_ARGUMENT, "Q index out of range");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::Uint8Array>().ByteLength() != 16) {
    return ThrowType(env, "setSimdFpReg: value must be a 16-byte Uint8Array");
  }
  hv_simd_fp_uchar16_t value;
  std::memcpy(&value, info[1].As<Napi::Uint8Array>().Data(), 16);
  VcpuThread* t = thread_;
  return Sync(env, "hv_vcpu_set_simd_fp_reg", [t, index, value]() {
    return hv_vcpu_set_simd_fp_reg(t->id(), static_cast<hv_simd_fp_reg_t>(index), value);
  });
}

Napi::Value VcpuWrap::GetSysReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = 0;
  if (!ToU32(info[0], &id)) return env.Undefined();
  if (id > 0xffff) return ThrowHv(env, "hv_vcpu_get_sys_reg", HV_BAD_ARGUMENT, "not a 16-bit system register id");
  uint64_t value = 0;
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_sys_reg", [t, id, &value]() {
    return hv_vcpu_get_sys_reg(t->id(), static_cast<hv_sys_reg_t>(id), &value);
  });
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::BigInt::New(env, value);
}

Napi::Value VcpuWrap::SetSysReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = 0;
  uint64_t value = 0;
  if (!ToU32(info[0], &id) || !ToU64(info[1], &value)) return env.Undefined();
  if (id > 0xffff) return ThrowHv(env, "hv_vcpu_set_sys_reg", HV_BAD_ARGUMENT, "not a 16-bit system register id");
  VcpuThread* t = thread_;
  return Sync(env, "hv_vcpu_set_sys_reg", [t, id, value]() {
    return hv_vcpu_set_sys_reg(t->id(), static_cast<hv_sys_reg_t>(id), value);
  });
}

Napi::Value VcpuWrap::GetPendingInterrupt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t type = 0;
  if (!ToU32(info[0], &type)) return env.Undefined();
  if (type > HV_INTERRUPT_TYPE_FIQ) return ThrowHv(env, "hv_vcpu_get_pending_interrupt", HV_BAD_ARGUMENT, "type must be 0 (IRQ) or 1 (FIQ)");
  bool pending = false;
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_pending_interrupt", [t, type, &pending]() {
    return hv_vcpu_get_pending_interrupt(t->id(), static_cast<hv_interrupt_type_t>(type), &pending);
  });
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::Boolean::New(env, pending);
}

Napi::Value VcpuWrap::SetPendingInterrupt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t type = 0;
  if (!ToU32(info[0], &type)) return env.Undefined();
  if (type > HV_INTERRUPT_TYPE_FIQ) return ThrowHv(env, "hv_vcpu_set_pending_interrupt", HV_BAD_ARGUMENT, "type must be 0 (IRQ) or 1 (FIQ)");
  bool pending = info[1].ToBoolean().Value();
  VcpuThread* t = thread_;
  return Sync(env, "hv_vcpu_set_pending_interrupt", [t, type, pending]() {
    return hv_vcpu_set_pending_interrupt(t->id(), static_cast<hv_interrupt_type_t>(type), pending);
  });
}

Napi::Value VcpuWrap::GetVtimerMask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool masked = false;
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_vtimer_mask", [t, &masked]() { return hv_vcpu_get_vtimer_mask(t->id(), &masked); });
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::Boolean::New(env, masked);
}

Napi::Value VcpuWrap::SetVtimerMask(const Napi::CallbackInfo& info) {
  bool masked = info[0].ToBoolean().Value();
  VcpuThread* t = thread_;
  return Sync(info.Env(), "hv_vcpu_set_vtimer_mask", [t, masked]() { return hv_vcpu_set_vtimer_mask(t->id(), masked); });
}

Napi::Value VcpuWrap::GetVtimerOffset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset = 0;
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_vtimer_offset", [t, &offset]() { return hv_vcpu_get_vtimer_offset(t->id(), &offset); });
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::BigInt::New(env, offset);
}

Napi::Value VcpuWrap::SetVtimerOffset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset = 0;
  if (!ToU64(info[0], &offset)) return env.Undefined();
  VcpuThread* t = thread_;
  return Sync(env, "hv_vcpu_set_vtimer_offset", [t, offset]() { return hv_vcpu_set_vtimer_offset(t->id(), offset); });
}

Napi::Value VcpuWrap::GetTrapDebugExceptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool value = false;
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_trap_debug_exceptions", [t, &value]() { return hv_vcpu_get_trap_debug_exceptions(t->id(), &value); });
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::Boolean::New(env, value);
}

Napi::Value VcpuWrap::SetTrapDebugExceptions(const Napi::CallbackInfo& info) {
  bool value = info[0].ToBoolean().Value();
  VcpuThread* t = thread_;
  return Sync(info.Env(), "hv_vcpu_set_trap_debug_exceptions", [t, value]() { return hv_vcpu_set_trap_debug_exceptions(t->id(), value); });
}

Napi::Value VcpuWrap::GetTrapDebugRegAccesses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool value = false;
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_trap_debug_reg_accesses", [t, &value]() { return hv_vcpu_get_trap_debug_reg_accesses(t->id(), &value); });
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::Boolean::New(env, value);
}

Napi::Value VcpuWrap::SetTrapDebugRegAccesses(const Napi::CallbackInfo& info) {
  bool value = info[0].ToBoolean().Value();
  VcpuThread* t = thread_;
  return Sync(info.Env(), "hv_vcpu_set_trap_debug_reg_accesses", [t, value]() { return hv_vcpu_set_trap_debug_reg_accesses(t->id(), value); });
}

// Nanoseconds (hv_vcpu_get_exec_time reports mach_absolute_time units).
Napi::Value VcpuWrap::GetExecTime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t ticks = 0;
  VcpuThread* t = thread_;
  Sync(env, "hv_vcpu_get_exec_time", [t, &ticks]() { return hv_vcpu_get_exec_time(t->id(), &ticks); });
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::BigInt::New(env, MachToNanoseconds(ticks));
}

Napi::Value VcpuWrap::GetGicRedistributorBase(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (__builtin_available(macOS 15.0, *)) {
    hv_ipa_t base = 0;
    VcpuThread* t = thread_;
    Sync(env, "hv_gic_get_redistributor_base", [t, &base]() { return hv_gic_get_redistributor_base(t->id(), &base); });
    if (env.IsExceptionPending()) return env.Undefined();
    return Napi::BigInt::New(env, base);
  }
  return ThrowHv(env, "hv_gic_get_redistributor_base", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value VcpuWrap::GetGicIccReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  if (!ToU32(info[0], &reg)) return env.Undefined();
  if (__builtin_available(macOS 15.0, *)) {
    uint64_t value = 0;
    VcpuThread* t = thread_;
    Sync(env, "hv_gic_get_icc_reg", [t, reg, &value]() {
      return hv_gic_get_icc_reg(t->id(), static_cast<hv_gic_icc_reg_t>(reg), &value);
    });
    if (env.IsExceptionPending()) return env.Undefined();
    return Napi::BigInt::New(env, value);
  }
  return ThrowHv(env, "hv_gic_get_icc_reg", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value VcpuWrap::SetGicIccReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  uint64_t value = 0;
  if (!ToU32(info[0], &reg) || !ToU64(info[1], &value)) return env.Undefined();
  if (__builtin_available(macOS 15.0, *)) {
    VcpuThread* t = thread_;
    return Sync(env, "hv_gic_set_icc_reg", [t, reg, value]() {
      return hv_gic_set_icc_reg(t->id(), static_cast<hv_gic_icc_reg_t>(reg), value);
    });
  }
  return ThrowHv(env, "hv_gic_set_icc_reg", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

// This vCPU's redistributor (RD and SGI frames, GICv3 offsets); owning thread only.
Napi::Value VcpuWrap::GetGicRedistributorReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  if (!ToU32(info[0], &reg)) return env.Undefined();
  if (__builtin_available(macOS 15.0, *)) {
    uint64_t value = 0;
    VcpuThread* t = thread_;
    Sync(env, "hv_gic_get_redistributor_reg", [t, reg, &value]() {
      return hv_gic_get_redistributor_reg(t->id(), static_cast<hv_gic_redistributor_reg_t>(reg), &value);
    });
    if (env.IsExceptionPending()) return env.Undefined();
    return Napi::BigInt::New(env, value);
  }
  return ThrowHv(env, "hv_gic_get_redistributor_reg", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value VcpuWrap::SetGicRedistributorReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  uint64_t value = 0;
  if (!ToU32(info[0], &reg) || !ToU64(info[1], &value)) return env.Undefined();
  if (__builtin_available(macOS 15.0, *)) {
    VcpuThread* t = thread_;
    return Sync(env, "hv_gic_set_redistributor_reg", [t, reg, value]() {
      return hv_gic_set_redistributor_reg(t->id(), static_cast<hv_gic_redistributor_reg_t>(reg), value);
    });
  }
  return ThrowHv(env, "hv_gic_set_redistributor_reg", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

// Resolves once hv_vcpu_destroy ran on the owning thread and that thread has ended. A run
// in flight is cancelled first (it settles as CANCELED).
Napi::Value VcpuWrap::Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (thread_ == nullptr || !thread_->created() || thread_->destroyed.exchange(true)) {
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  if (thread_->running.load()) {
    hv_vcpu_t id = thread_->id();
    hv_vcpus_exit(&id, 1);
  }
  AsyncHold::Acquire(env, this, thread_);
  VcpuThread* t = thread_;
  VcpuWrap* self = this;
  t->Post([t, self, deferred]() {
    hv_return_t r = hv_vcpu_destroy(t->id());
    t->Quit();
    t->tsfn().BlockingCall([t, self, deferred, r](Napi::Env env, Napi::Function) {
      t->Join();
      g_live_vcpus.fetch_sub(1);
      if (r == HV_SUCCESS) {
        deferred.Resolve(env.Undefined());
      } else {
        deferred.Reject(HvError(env, "hv_vcpu_destroy", r).Value());
      }
      AsyncHold::Release(env, self, t);
    });
  });
  return deferred.Promise();
}

// ---------------------------------------------------------------------------------------
// createVcpu

Napi::Value CreateVcpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (!g_vm_exists.load()) {
    deferred.Reject(HvError(env, "hv_vcpu_create", HV_NO_DEVICE, "no VM exists in this process (vmCreate first)").Value());
    return deferred.Promise();
  }
  AddonState* state = State(env);
  if (!state->owns_vm) {
    deferred.Reject(HvError(env, "hv_vcpu_create", HV_BUSY, "the VM belongs to another JavaScript environment (thread) of this process").Value());
    return deferred.Promise();
  }
  Napi::Function noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  // Unlimited queue: the vCPU thread never blocks on BlockingCall. Starts referenced; the
  // creation below holds it until the Promise settles.
  Napi::ThreadSafeFunction tsfn = Napi::ThreadSafeFunction::New(env, noop, "nodevisor-vcpu", 0, 1);
  tsfn.Unref(env);
  Napi::Object obj = state->vcpu_ctor.New({});
  VcpuWrap* wrap = VcpuWrap::Unwrap(obj);
  auto* thread = new VcpuThread(state->next_vcpu_index++, tsfn);
  wrap->Attach(thread);
  AsyncHold::Acquire(env, wrap, thread);
  thread->Start([thread, wrap, deferred](hv_return_t r) {
    thread->tsfn().BlockingCall([thread, wrap, deferred, r](Napi::Env env, Napi::Function) {
      if (r == HV_SUCCESS) {
        g_live_vcpus.fetch_add(1);
        deferred.Resolve(wrap->Value());
      } else {
        thread->Join();
        deferred.Reject(HvError(env, "hv_vcpu_create", r).Value());
      }
      AsyncHold::Release(env, wrap, thread);
    });
  });
  return deferred.Promise();
}

}  // namespace nodevisor_hvf
