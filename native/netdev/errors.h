// Errors of nodevisor_netdev: a plain Error carrying the failing call and errno, so the
// TypeScript side (src/net/netdev-native.ts) can name the errno portably (os.constants.errno).
#pragma once
#include <napi.h>

#include <string>

namespace nodevisor_netdev {

Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err, const std::string& subject = std::string());

}  // namespace nodevisor_netdev
