// hv_return_t -> JavaScript error. Every failing Hypervisor.framework call becomes an Error
// carrying hvCode (unsigned), hvName and hvCall; src/accel/hvf/errors.ts turns it into an
// HvfError (and adds the entitlement / no-virtualization hint for hv_vm_create).
#pragma once

#include <Hypervisor/Hypervisor.h>
#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace nodevisor_hvf {

// HV_EXISTS is declared only by later SDKs' arm64/hv/hv_kern_types.h (26.x); the value is
// stable, so name it here for the error table.
constexpr hv_return_t kHvExists = static_cast<hv_return_t>(0xfae94008u);

inline const char* HvName(hv_return_t r) {
  switch (r) {
    case HV_SUCCESS: return "HV_SUCCESS";
    case HV_ERROR: return "HV_ERROR";
    case HV_BUSY: return "HV_BUSY";
    case HV_BAD_ARGUMENT: return "HV_BAD_ARGUMENT";
    case HV_ILLEGAL_GUEST_STATE: return "HV_ILLEGAL_GUEST_STATE";
    case HV_NO_RESOURCES: return "HV_NO_RESOURCES";
    case HV_NO_DEVICE: return "HV_NO_DEVICE";
    case HV_DENIED: return "HV_DENIED";
    case kHvExists: return "HV_EXISTS";
    case HV_UNSUPPORTED: return "HV_UNSUPPORTED";
    default: return "HV_UNKNOWN_ERROR";
  }
}

inline Napi::Error HvError(Napi::Env env, const char* call, hv_return_t r, const std::string& detail = std::string()) {
  char code[16];
  std::snprintf(code, sizeof code, "0x%08x", static_cast<unsigned>(r));
  std::string message = std::string(call) + " failed: " + HvName(r) + " (" + code + ")";
  if (!detail.empty()) message += ": " + detail;
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("hvCode", Napi::Number::New(env, static_cast<double>(static_cast<uint32_t>(r))));
  obj.Set("hvName", Napi::String::New(env, HvName(r)));
  obj.Set("hvCall", Napi::String::New(env, call));
  return error;
}

// Throws and returns undefined: the NAPI_DISABLE_CPP_EXCEPTIONS way of failing a method.
inline Napi::Value ThrowHv(Napi::Env env, const char* call, hv_return_t r, const std::string& detail = std::string()) {
  HvError(env, call, r, detail).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Argument errors found by the addon itself, before any HVF call.
inline Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// BigInt or Number argument -> uint64_t; false (with a pending TypeError) when neither.
inline bool ToU64(Napi::Value v, uint64_t* out) {
  if (v.IsBigInt()) {
    bool lossless = true;
    *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) {
      Napi::TypeError::New(v.Env(), "BigInt does not fit in 64 unsigned bits").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<uint64_t>(d))) {
      *out = static_cast<uint64_t>(d);
      return true;
    }
  }
  Napi::TypeError::New(v.Env(), "expected a non-negative integer (number or bigint)").ThrowAsJavaScriptException();
  return false;
}

inline bool ToU32(Napi::Value v, uint32_t* out) {
  uint64_t wide = 0;
  if (!ToU64(v, &wide)) return false;
  if (wide > 0xffffffffull) {
    Napi::TypeError::New(v.Env(), "value does not fit in 32 bits").ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(wide);
  return true;
}

}  // namespace nodevisor_hvf
