// nodevisor_netdev: host network endpoints Node.js cannot open by itself, for --net tap
// (Linux TUNSETIFF) and --net socket,type=dgram (AF_UNIX SOCK_DGRAM: gvproxy, vmnet-helper).
// The interface is described in src/net/netdev-native.ts; bump kAbiVersion with it.
#include <napi.h>

#include <errno.h>

#include <cstring>

#include "endpoints.h"
#include "errors.h"
#include "frame_port.h"

namespace nodevisor_netdev {

namespace {
constexpr uint32_t kAbiVersion = 3;  // src/net/netdev-native.ts NETDEV_ABI_VERSION
}  // namespace

Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err, const std::string& subject) {
  std::string msg = syscall;
  if (!subject.empty()) msg += " " + subject;
  msg += ": ";
  msg += std::strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("openTap", Napi::Function::New(env, OpenTap, "openTap"));
  exports.Set("setTapOffload", Napi::Function::New(env, SetTapOffload, "setTapOffload"));
  exports.Set("openDgram", Napi::Function::New(env, OpenDgram, "openDgram"));
  exports.Set("probeDgram", Napi::Function::New(env, ProbeDgram, "probeDgram"));
  exports.Set("adoptDgram", Napi::Function::New(env, AdoptDgram, "adoptDgram"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("FramePort", FramePort::Define(env));
  return exports;
}

}  // namespace nodevisor_netdev

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nodevisor_netdev::Init(env, exports); }

NODE_API_MODULE(nodevisor_netdev, InitModule)
