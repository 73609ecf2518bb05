// nodevisor_hostfs: host filesystem calls Node's fs lacks. For virtio-fs: extended attributes
// and calls on names beneath a share root that cannot be raced out of it (at_ops.cc, on
// beneath.cc's resolution); for virtio-blk: hole punching. Every call runs on the libuv
// threadpool (job.h) and settles a Promise; a failure rejects with an Error carrying `errno`
// (the host's, positive) and `syscall`. The interface is described in src/host/hostfs-native.ts;
// bump kAbiVersion with it.
#include <napi.h>

#include <cstdint>

#include "args.h"
#include "ops.h"

namespace {

constexpr uint32_t kAbiVersion = 2;  // src/host/hostfs-native.ts HOSTFS_ABI_VERSION

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("maxBuffer", Napi::Number::New(env, static_cast<double>(hostfs::kMaxBuffer)));
  hostfs::RegisterXattrOps(env, exports);
  hostfs::RegisterAtOps(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(nodevisor_hostfs, Init)
