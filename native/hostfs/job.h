// One host call as a Promise: Job<Op> runs op.Run() on the libuv threadpool and settles the
// Promise on the JS thread, resolving with op.Result(env) or rejecting with an Error carrying
// `errno` (the host's, positive) and `syscall`. An Op is a plain struct holding its arguments
// (copied out of JS before queueing) and its result; Run must not touch JS.
#pragma once
#include <napi.h>

#include <errno.h>

#include <cstring>
#include <string>
#include <utility>

namespace hostfs {

/** How a Run went: err 0, or the errno of the call named `call`. */
struct Outcome {
  int err = 0;
  const char* call = "";
  /** Records errno for `c`; returns false so a Run can `return out.Fail("x");`. */
  bool Fail(const char* c) {
    err = errno;
    call = c;
    return false;
  }
  bool FailWith(int e, const char* c) {
    err = e;
    call = c;
    return false;
  }
};

/** Calls f until it does not fail with EINTR. */
template <typename F>
auto Retry(F f) -> decltype(f()) {
  decltype(f()) r;
  do r = f();
  while (r == -1 && errno == EINTR);
  return r;
}

inline Napi::Value ErrnoError(Napi::Env env, int err, const char* call) {
#ifdef __APPLE__
  if (err == ENOATTR) err = ENODATA;  // the guest is Linux: one name for "no such attribute"
#endif
  Napi::Error e = Napi::Error::New(env, std::string(call) + ": " + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, call));
  return e.Value();
}

template <typename Op>
class Job final : public Napi::AsyncWorker {
 public:
  /** Queues op and returns its Promise. */
  static Napi::Value Start(Napi::Env env, Op op) {
    auto* job = new Job(env, std::move(op));
    Napi::Promise p = job->deferred_.Promise();
    job->Queue();
    return p;
  }

 private:
  Job(Napi::Env env, Op op) : Napi::AsyncWorker(env, "nodevisor_hostfs"), deferred_(Napi::Promise::Deferred::New(env)), op_(std::move(op)) {}

  void Execute() override { op_.Run(out_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (out_.err != 0) deferred_.Reject(ErrnoError(env, out_.err, out_.call));
    else deferred_.Resolve(op_.Result(env));
  }

  Napi::Promise::Deferred deferred_;
  Op op_;
  Outcome out_;
};

/** Throws a TypeError (bad arguments: a caller's bug, never a host condition). */
inline Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace hostfs
