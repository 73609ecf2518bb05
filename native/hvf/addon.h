// Per-environment addon state (node-addon-api instance data). The VM itself is
// process-global in Hypervisor.framework, so the "VM exists" flag is process-wide.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <vector>

namespace nodevisor_hvf {

struct MappedRegion {
  uint64_t gpa;
  uint64_t size;
  Napi::Reference<Napi::Value> buffer;  // keeps the JS-owned ArrayBuffer alive while mapped
};

struct AddonState {
  Napi::FunctionReference vcpu_ctor;
  std::vector<MappedRegion> regions;
  uint32_t next_vcpu_index = 0;
};

inline AddonState* State(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

// One VM per process (hv_vm_create "Creates a VM instance for the current process").
extern std::atomic<bool> g_vm_exists;

}  // namespace nodevisor_hvf
