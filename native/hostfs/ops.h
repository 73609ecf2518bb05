// The addon's call groups; addon.cc puts each on the exports.
#pragma once
#include <napi.h>

namespace hostfs {

/** getxattr, setxattr, listxattr, removexattr, punchHole (xattr.cc). */
void RegisterXattrOps(Napi::Env env, Napi::Object exports);
/** openRoot and the calls on names beneath a root (at_ops.cc). */
void RegisterAtOps(Napi::Env env, Napi::Object exports);

}  // namespace hostfs
