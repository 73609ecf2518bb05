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

// The VM is process-global but its guest RAM is owned by one JS environment (the main
// thread or a worker): that environment alone may map memory, create vCPUs or destroy
// the VM, and when it goes away its mappings are removed before the memory is freed.
struct AddonState {
  Napi::FunctionReference vcpu_ctor;
  std::vector<MappedRegion> regions;
  uint32_t next_vcpu_index = 0;
  bool owns_vm = false;
  ~AddonState();  // addon.mm: unmaps regions, destroys the VM if this env owns it
};

inline AddonState* State(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

// One VM per process (hv_vm_create "Creates a VM instance for the current process").
extern std::atomic<bool> g_vm_exists;

}  // namespace nodevisor_hvf
