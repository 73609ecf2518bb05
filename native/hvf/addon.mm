// nodevisor_hvf: Hypervisor.framework (arm64) for Node.js. This file holds the
// process-global part of the API (capabilities, the one VM, guest memory mappings, the
// macOS 15 in-kernel GICv3, vCPU feature registers) and the module entry point; vcpu.mm
// holds the per-vCPU threads. Deployment target 11.0: every newer call is guarded with
// __builtin_available so one binary runs on macOS 11 and uses the GIC where it exists.
#include <Hypervisor/Hypervisor.h>
#include <napi.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "addon.h"
#include "hv_errors.h"
#include "vcpu.h"

static_assert(sizeof(hv_vcpu_exit_t) == 32, "hv_vcpu_exit_t layout");
static_assert(sizeof(hv_sys_reg_t) == 2, "hv_sys_reg_t is 16 bits");

namespace nodevisor_hvf {

std::atomic<bool> g_vm_exists{false};

namespace {

constexpr uint32_t kAbiVersion = 2;  // src/accel/hvf/native.ts NATIVE_ABI_VERSION
constexpr uint32_t kDefaultIpaBits = 36;  // HVF's size when none is configured (and before macOS 13)

// HVF maps in 16 KiB granules on Apple Silicon (a 4 KiB-multiple size is rejected), so
// never align to less, whatever sysconf says.
constexpr uint64_t kHvfGranule = 16384;

uint64_t HostPageSize() {
  long page = sysconf(_SC_PAGESIZE);
  return page > 0 && static_cast<uint64_t>(page) > kHvfGranule ? static_cast<uint64_t>(page) : kHvfGranule;
}

// The VM-changing calls belong to the environment that created the VM (see AddonState).
bool OwnsVm(Napi::Env env, const char* call) {
  if (!g_vm_exists.load()) {
    HvError(env, call, HV_NO_DEVICE, "no VM exists in this process").ThrowAsJavaScriptException();
    return false;
  }
  if (!State(env)->owns_vm) {
    HvError(env, call, HV_BUSY, "the VM belongs to another JavaScript environment (thread) of this process").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool GicSupported() {
  if (__builtin_available(macOS 15.0, *)) return true;
  return false;
}

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object caps = Napi::Object::New(env);
  // 0 = unknown: on hosts without virtualization this fails too, and hv_vm_create is the
  // call whose error explains why, so capabilities() itself does not throw for it.
  uint32_t max_vcpus = 0;
  hv_return_t r = hv_vm_get_max_vcpu_count(&max_vcpus);
  if (r != HV_SUCCESS) max_vcpus = 0;
  uint32_t max_ipa = kDefaultIpaBits;
  uint32_t default_ipa = kDefaultIpaBits;
  bool ipa_configurable = false;
  if (__builtin_available(macOS 13.0, *)) {
    ipa_configurable = true;
    if (hv_vm_config_get_max_ipa_size(&max_ipa) != HV_SUCCESS) max_ipa = kDefaultIpaBits;
    if (hv_vm_config_get_default_ipa_size(&default_ipa) != HV_SUCCESS) default_ipa = kDefaultIpaBits;
  }
  bool el2 = false;
  if (__builtin_available(macOS 15.0, *)) {
    if (hv_vm_config_get_el2_supported(&el2) != HV_SUCCESS) el2 = false;
  }
  caps.Set("maxVcpus", Napi::Number::New(env, max_vcpus));
  caps.Set("maxIpaBits", Napi::Number::New(env, max_ipa));
  caps.Set("defaultIpaBits", Napi::Number::New(env, default_ipa));
  caps.Set("ipaConfigurable", Napi::Boolean::New(env, ipa_configurable));
  caps.Set("pageSize", Napi::Number::New(env, static_cast<double>(HostPageSize())));
  caps.Set("inKernelGic", Napi::Boolean::New(env, GicSupported()));
  caps.Set("el2Supported", Napi::Boolean::New(env, el2));
  return caps;
}

bool OptionalU64(Napi::Object obj, const char* key, uint64_t* out, bool* present) {
  Napi::Value v = obj.Get(key);
  *present = !v.IsUndefined() && !v.IsNull();
  if (!*present) return true;
  return ToU64(v, out);
}

// Creates the GIC after the VM and before any vCPU, as hv_gic_create requires.
hv_return_t CreateGic(Napi::Env env, Napi::Object gic, std::string* failed_call) {
  uint64_t dist = 0, redist = 0, msi_base = 0, msi_intid = 0, msi_count = 0;
  bool has_dist = false, has_redist = false, has_msi = false, has_intid = false, has_count = false;
  if (!OptionalU64(gic, "distributorBase", &dist, &has_dist) ||
      !OptionalU64(gic, "redistributorBase", &redist, &has_redist) ||
      !OptionalU64(gic, "msiRegionBase", &msi_base, &has_msi) ||
      !OptionalU64(gic, "msiIntidBase", &msi_intid, &has_intid) ||
      !OptionalU64(gic, "msiIntidCount", &msi_count, &has_count)) {
    *failed_call = "gic config";
    return HV_BAD_ARGUMENT;
  }
  if (!has_dist || !has_redist) {
    *failed_call = "gic config (distributorBase and redistributorBase are required)";
    return HV_BAD_ARGUMENT;
  }
  // hv_gic_create enables MSIs only with both a region and a range: half a setup is a mistake.
  if ((has_msi != has_intid) || (has_msi != has_count)) {
    *failed_call = "gic config (msiRegionBase, msiIntidBase and msiIntidCount go together)";
    return HV_BAD_ARGUMENT;
  }
  if (msi_intid > 0xffffffffull || msi_count > 0xffffffffull) {
    *failed_call = "gic config (MSI INTIDs are 32-bit)";
    return HV_BAD_ARGUMENT;
  }
  if (__builtin_available(macOS 15.0, *)) {
    hv_gic_config_t config = hv_gic_config_create();
    hv_return_t r = hv_gic_config_set_distributor_base(config, dist);
    if (r != HV_SUCCESS) *failed_call = "hv_gic_config_set_distributor_base";
    if (r == HV_SUCCESS) {
      r = hv_gic_config_set_redistributor_base(config, redist);
      if (r != HV_SUCCESS) *failed_call = "hv_gic_config_set_redistributor_base";
    }
    if (r == HV_SUCCESS && has_msi) {
      r = hv_gic_config_set_msi_region_base(config, msi_base);
      if (r != HV_SUCCESS) *failed_call = "hv_gic_config_set_msi_region_base";
    }
    if (r == HV_SUCCESS && has_msi) {
      r = hv_gic_config_set_msi_interrupt_range(config, static_cast<uint32_t>(msi_intid), static_cast<uint32_t>(msi_count));
      if (r != HV_SUCCESS) *failed_call = "hv_gic_config_set_msi_interrupt_range";
    }
    if (r == HV_SUCCESS) {
      r = hv_gic_create(config);
      if (r != HV_SUCCESS) *failed_call = "hv_gic_create";
    }
    os_release(config);
    return r;
  }
  *failed_call = "hv_gic_create (the in-kernel GIC needs macOS 15)";
  return HV_UNSUPPORTED;
}

// vmCreate({ ipaBits?, gic?: { distributorBase, redistributorBase, msiRegionBase?,
// msiIntidBase?, msiIntidCount? } })
Napi::Value VmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object options = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  uint64_t ipa_bits = 0;
  bool has_ipa = false;
  if (!OptionalU64(options, "ipaBits", &ipa_bits, &has_ipa)) return env.Undefined();
  bool expected = false;
  if (!g_vm_exists.compare_exchange_strong(expected, true)) {
    return ThrowHv(env, "hv_vm_create", HV_BUSY, "this process already has a VM (Hypervisor.framework allows one per process)");
  }
  hv_return_t r = HV_SUCCESS;
  if (__builtin_available(macOS 13.0, *)) {
    hv_vm_config_t config = hv_vm_config_create();
    if (has_ipa) r = hv_vm_config_set_ipa_size(config, static_cast<uint32_t>(ipa_bits));
    if (r != HV_SUCCESS) {
      os_release(config);
      g_vm_exists.store(false);
      return ThrowHv(env, "hv_vm_config_set_ipa_size", r, "ipaBits " + std::to_string(ipa_bits));
    }
    r = hv_vm_create(config);
    os_release(config);
  } else {
    if (has_ipa && ipa_bits != kDefaultIpaBits) {
      g_vm_exists.store(false);
      return ThrowHv(env, "hv_vm_config_set_ipa_size", HV_UNSUPPORTED, "choosing the IPA size needs macOS 13; this host has 36 bits");
    }
    r = hv_vm_create(nullptr);
  }
  if (r != HV_SUCCESS) {
    g_vm_exists.store(false);
    return ThrowHv(env, "hv_vm_create", r);
  }
  Napi::Value gic = options.Get("gic");
  if (gic.IsObject()) {
    std::string failed_call;
    r = CreateGic(env, gic.As<Napi::Object>(), &failed_call);
    if (env.IsExceptionPending()) {
      hv_vm_destroy();
      g_vm_exists.store(false);
      return env.Undefined();
    }
    if (r != HV_SUCCESS) {
      hv_vm_destroy();
      g_vm_exists.store(false);
      return ThrowHv(env, failed_call.c_str(), r);
    }
  }
  State(env)->owns_vm = true;
  return env.Undefined();
}

Napi::Value VmDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_vm_exists.load()) return env.Undefined();
  if (!OwnsVm(env, "hv_vm_destroy")) return env.Undefined();
  if (LiveVcpuCount() != 0) {
    return ThrowHv(env, "hv_vm_destroy", HV_BUSY, std::to_string(LiveVcpuCount()) + " vCPU(s) still exist: destroy them first");
  }
  hv_return_t r = hv_vm_destroy();
  if (r != HV_SUCCESS) return ThrowHv(env, "hv_vm_destroy", r);
  State(env)->regions.clear();
  State(env)->owns_vm = false;
  g_vm_exists.store(false);
  return env.Undefined();
}

struct HostRange {
  uint8_t* data = nullptr;
  uint64_t size = 0;
  Napi::ArrayBuffer buffer;
};

bool HostRangeOf(Napi::Value v, HostRange* out) {
  Napi::Env env = v.Env();
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    out->buffer = ta.ArrayBuffer();
    out->data = static_cast<uint8_t*>(out->buffer.Data()) + ta.ByteOffset();
    out->size = ta.ByteLength();
    return true;
  }
  if (v.IsArrayBuffer()) {
    out->buffer = v.As<Napi::ArrayBuffer>();
    out->data = static_cast<uint8_t*>(out->buffer.Data());
    out->size = out->buffer.ByteLength();
    return true;
  }
  Napi::TypeError::New(env, "expected a Uint8Array (or ArrayBuffer) of guest RAM").ThrowAsJavaScriptException();
  return false;
}

// How far the buffer's first byte is past a host page boundary, so JS can allocate slack
// and pass an aligned subarray (JS cannot see addresses).
Napi::Value PageMisalignment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostRange range;
  if (!HostRangeOf(info[0], &range)) return env.Undefined();
  uint64_t page = HostPageSize();
  return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(range.data) % page));
}

// vmMap(host, gpa, flags): maps JS-owned memory (never an external buffer); the addon keeps
// a reference to the ArrayBuffer until unmap or VM destruction.
Napi::Value VmMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostRange range;
  uint64_t gpa = 0, flags = 0;
  if (!HostRangeOf(info[0], &range) || !ToU64(info[1], &gpa) || !ToU64(info[2], &flags)) return env.Undefined();
  if (!OwnsVm(env, "hv_vm_map")) return env.Undefined();
  const uint64_t page = HostPageSize();
  const uintptr_t address = reinterpret_cast<uintptr_t>(range.data);
  if (range.size == 0 || range.size % page != 0 || gpa % page != 0 || address % page != 0) {
    char detail[200];
    std::snprintf(detail, sizeof detail,
                  "host address %% %llu = %llu, size 0x%llx, gpa 0x%llx: all must be multiples of the %llu-byte host page",
                  static_cast<unsigned long long>(page), static_cast<unsigned long long>(address % page),
                  static_cast<unsigned long long>(range.size), static_cast<unsigned long long>(gpa),
                  static_cast<unsigned long long>(page));
    return ThrowHv(env, "hv_vm_map", HV_BAD_ARGUMENT, detail);
  }
  if ((flags & ~static_cast<uint64_t>(HV_MEMORY_READ | HV_MEMORY_WRITE | HV_MEMORY_EXEC)) != 0) {
    return ThrowHv(env, "hv_vm_map", HV_BAD_ARGUMENT, "unknown memory flags");
  }
  hv_return_t r = hv_vm_map(range.data, gpa, static_cast<size_t>(range.size), flags);
  if (r != HV_SUCCESS) return ThrowHv(env, "hv_vm_map", r);
  MappedRegion region{gpa, range.size, Napi::Reference<Napi::Value>::New(range.buffer, 1)};
  State(env)->regions.push_back(std::move(region));
  return env.Undefined();
}

Napi::Value VmUnmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t gpa = 0, size = 0;
  if (!ToU64(info[0], &gpa) || !ToU64(info[1], &size)) return env.Undefined();
  if (!OwnsVm(env, "hv_vm_unmap")) return env.Undefined();
  hv_return_t r = hv_vm_unmap(gpa, static_cast<size_t>(size));
  if (r != HV_SUCCESS) return ThrowHv(env, "hv_vm_unmap", r);
  // Drop the reference of every region now wholly unmapped; partly unmapped ones stay
  // referenced until the VM is destroyed.
  auto& regions = State(env)->regions;
  for (size_t i = 0; i < regions.size();) {
    if (regions[i].gpa >= gpa && regions[i].gpa + regions[i].size <= gpa + size) {
      regions.erase(regions.begin() + static_cast<long>(i));
    } else {
      i++;
    }
  }
  return env.Undefined();
}

Napi::Value VmProtect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t gpa = 0, size = 0, flags = 0;
  if (!ToU64(info[0], &gpa) || !ToU64(info[1], &size) || !ToU64(info[2], &flags)) return env.Undefined();
  if (!OwnsVm(env, "hv_vm_protect")) return env.Undefined();
  hv_return_t r = hv_vm_protect(gpa, static_cast<size_t>(size), flags);
  if (r != HV_SUCCESS) return ThrowHv(env, "hv_vm_protect", r);
  return env.Undefined();
}

// ---- in-kernel GICv3 (macOS 15) -------------------------------------------------------

Napi::Value GicParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (__builtin_available(macOS 15.0, *)) {
    size_t dist_size = 0, dist_align = 0, redist_region = 0, redist_size = 0, redist_align = 0, msi_size = 0, msi_align = 0;
    uint32_t spi_base = 0, spi_count = 0, vtimer = 0, ptimer = 0, pmu = 0;
    struct { const char* call; hv_return_t r; } results[] = {
      {"hv_gic_get_distributor_size", hv_gic_get_distributor_size(&dist_size)},
      {"hv_gic_get_distributor_base_alignment", hv_gic_get_distributor_base_alignment(&dist_align)},
      {"hv_gic_get_redistributor_region_size", hv_gic_get_redistributor_region_size(&redist_region)},
      {"hv_gic_get_redistributor_size", hv_gic_get_redistributor_size(&redist_size)},
      {"hv_gic_get_redistributor_base_alignment", hv_gic_get_redistributor_base_alignment(&redist_align)},
      {"hv_gic_get_msi_region_size", hv_gic_get_msi_region_size(&msi_size)},
      {"hv_gic_get_msi_region_base_alignment", hv_gic_get_msi_region_base_alignment(&msi_align)},
      {"hv_gic_get_spi_interrupt_range", hv_gic_get_spi_interrupt_range(&spi_base, &spi_count)},
      {"hv_gic_get_intid", hv_gic_get_intid(HV_GIC_INT_EL1_VIRTUAL_TIMER, &vtimer)},
      {"hv_gic_get_intid", hv_gic_get_intid(HV_GIC_INT_EL1_PHYSICAL_TIMER, &ptimer)},
      {"hv_gic_get_intid", hv_gic_get_intid(HV_GIC_INT_PERFORMANCE_MONITOR, &pmu)},
    };
    for (const auto& result : results) {
      if (result.r != HV_SUCCESS) return ThrowHv(env, result.call, result.r);
    }
    Napi::Object p = Napi::Object::New(env);
    p.Set("distributorSize", Napi::Number::New(env, static_cast<double>(dist_size)));
    p.Set("distributorAlignment", Napi::Number::New(env, static_cast<double>(dist_align)));
    p.Set("redistributorRegionSize", Napi::Number::New(env, static_cast<double>(redist_region)));
    p.Set("redistributorSize", Napi::Number::New(env, static_cast<double>(redist_size)));
    p.Set("redistributorAlignment", Napi::Number::New(env, static_cast<double>(redist_align)));
    p.Set("msiRegionSize", Napi::Number::New(env, static_cast<double>(msi_size)));
    p.Set("msiRegionAlignment", Napi::Number::New(env, static_cast<double>(msi_align)));
    p.Set("spiBase", Napi::Number::New(env, spi_base));
    p.Set("spiCount", Napi::Number::New(env, spi_count));
    p.Set("virtualTimerIntid", Napi::Number::New(env, vtimer));
    p.Set("physicalTimerIntid", Napi::Number::New(env, ptimer));
    p.Set("pmuIntid", Napi::Number::New(env, pmu));
    return p;
  }
  return ThrowHv(env, "hv_gic_get_distributor_size", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value GicSetSpi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t intid = 0;
  if (!ToU32(info[0], &intid)) return env.Undefined();
  bool level = info[1].ToBoolean().Value();
  if (__builtin_available(macOS 15.0, *)) {
    hv_return_t r = hv_gic_set_spi(intid, level);
    if (r != HV_SUCCESS) return ThrowHv(env, "hv_gic_set_spi", r, "INTID " + std::to_string(intid));
    return env.Undefined();
  }
  return ThrowHv(env, "hv_gic_set_spi", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value GicReset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (__builtin_available(macOS 15.0, *)) {
    hv_return_t r = hv_gic_reset();
    if (r != HV_SUCCESS) return ThrowHv(env, "hv_gic_reset", r);
    return env.Undefined();
  }
  return ThrowHv(env, "hv_gic_reset", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

// The distributor/redistributor state as an opaque, versioned blob (GIC CPU registers are
// separate: NativeVcpu.getGicIccReg). The VM must be stopped.
Napi::Value GicSaveState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (__builtin_available(macOS 15.0, *)) {
    hv_gic_state_t state = hv_gic_state_create();
    if (state == nullptr) return ThrowHv(env, "hv_gic_state_create", HV_ERROR, "no GIC, or its state cannot be captured now");
    size_t size = 0;
    hv_return_t r = hv_gic_state_get_size(state, &size);
    if (r != HV_SUCCESS) {
      os_release(state);
      return ThrowHv(env, "hv_gic_state_get_size", r);
    }
    Napi::Uint8Array out = Napi::Uint8Array::New(env, size);  // JS-owned memory
    r = hv_gic_state_get_data(state, out.Data());
    os_release(state);
    if (r != HV_SUCCESS) return ThrowHv(env, "hv_gic_state_get_data", r);
    return out;
  }
  return ThrowHv(env, "hv_gic_state_create", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value GicRestoreState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostRange range;
  if (!HostRangeOf(info[0], &range)) return env.Undefined();
  if (__builtin_available(macOS 15.0, *)) {
    hv_return_t r = hv_gic_set_state(range.data, static_cast<size_t>(range.size));
    if (r != HV_SUCCESS) return ThrowHv(env, "hv_gic_set_state", r);
    return env.Undefined();
  }
  return ThrowHv(env, "hv_gic_set_state", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value GicGetDistributorReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  if (!ToU32(info[0], &reg)) return env.Undefined();
  if (__builtin_available(macOS 15.0, *)) {
    uint64_t value = 0;
    hv_return_t r = hv_gic_get_distributor_reg(static_cast<hv_gic_distributor_reg_t>(reg), &value);
    if (r != HV_SUCCESS) return ThrowHv(env, "hv_gic_get_distributor_reg", r);
    return Napi::BigInt::New(env, value);
  }
  return ThrowHv(env, "hv_gic_get_distributor_reg", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value GicSetDistributorReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  uint64_t value = 0;
  if (!ToU32(info[0], &reg) || !ToU64(info[1], &value)) return env.Undefined();
  if (reg > 0xffff) return ThrowHv(env, "hv_gic_set_distributor_reg", HV_BAD_ARGUMENT, "not a 16-bit distributor offset");
  if (__builtin_available(macOS 15.0, *)) {
    hv_return_t r = hv_gic_set_distributor_reg(static_cast<hv_gic_distributor_reg_t>(reg), value);
    if (r != HV_SUCCESS) return ThrowHv(env, "hv_gic_set_distributor_reg", r);
    return env.Undefined();
  }
  return ThrowHv(env, "hv_gic_set_distributor_reg", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

Napi::Value GicSendMsi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t address = 0;
  uint32_t intid = 0;
  if (!ToU64(info[0], &address) || !ToU32(info[1], &intid)) return env.Undefined();
  if (__builtin_available(macOS 15.0, *)) {
    hv_return_t r = hv_gic_send_msi(address, intid);
    if (r != HV_SUCCESS) return ThrowHv(env, "hv_gic_send_msi", r, "INTID " + std::to_string(intid));
    return env.Undefined();
  }
  return ThrowHv(env, "hv_gic_send_msi", HV_UNSUPPORTED, "the in-kernel GIC needs macOS 15");
}

// hv_vcpus_exit on a list of hv_vcpu_t ids: no owning-thread rule, no VM-owner rule, so any
// JS environment (a worker's too) can kick vCPUs it knows by id.
Napi::Value VcpusExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) return ThrowType(env, "vcpusExit: expected an array of vCPU ids");
  Napi::Array list = info[0].As<Napi::Array>();
  if (list.Length() == 0) return env.Undefined();
  if (list.Length() > 4096) return ThrowType(env, "vcpusExit: too many vCPU ids");
  std::vector<hv_vcpu_t> ids(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    uint64_t id = 0;
    if (!ToU64(list.Get(i), &id)) return env.Undefined();
    ids[i] = id;
  }
  hv_return_t r = hv_vcpus_exit(ids.data(), static_cast<uint32_t>(ids.size()));
  if (r != HV_SUCCESS) return ThrowHv(env, "hv_vcpus_exit", r);
  return env.Undefined();
}

// ---- vCPU configuration (feature registers, cache geometry) ---------------------------

Napi::Value VcpuConfigFeatureReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t reg = 0;
  if (!ToU32(info[0], &reg)) return env.Undefined();
  if (reg > HV_FEATURE_REG_DCZID_EL0) return ThrowHv(env, "hv_vcpu_config_get_feature_reg", HV_BAD_ARGUMENT, "no such feature register");
  hv_vcpu_config_t config = hv_vcpu_config_create();
  uint64_t value = 0;
  hv_return_t r = hv_vcpu_config_get_feature_reg(config, static_cast<hv_feature_reg_t>(reg), &value);
  os_release(config);
  if (r != HV_SUCCESS) return ThrowHv(env, "hv_vcpu_config_get_feature_reg", r);
  return Napi::BigInt::New(env, value);
}

Napi::Value VcpuConfigCcsidr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t type = 0;
  if (!ToU32(info[0], &type)) return env.Undefined();
  if (type > HV_CACHE_TYPE_INSTRUCTION) return ThrowHv(env, "hv_vcpu_config_get_ccsidr_el1_sys_reg_values", HV_BAD_ARGUMENT, "type must be 0 (data) or 1 (instruction)");
  hv_vcpu_config_t config = hv_vcpu_config_create();
  uint64_t values[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  hv_return_t r = hv_vcpu_config_get_ccsidr_el1_sys_reg_values(config, static_cast<hv_cache_type_t>(type), values);
  os_release(config);
  if (r != HV_SUCCESS) return ThrowHv(env, "hv_vcpu_config_get_ccsidr_el1_sys_reg_values", r);
  Napi::BigUint64Array out = Napi::BigUint64Array::New(env, 8);
  for (size_t i = 0; i < 8; i++) out[i] = values[i];
  return out;
}

Napi::Object ReturnCodes(Napi::Env env) {
  Napi::Object codes = Napi::Object::New(env);
  const hv_return_t all[] = {HV_SUCCESS, HV_ERROR, HV_BUSY, HV_BAD_ARGUMENT, HV_ILLEGAL_GUEST_STATE,
                             HV_NO_RESOURCES, HV_NO_DEVICE, HV_DENIED, kHvExists, HV_UNSUPPORTED};
  for (hv_return_t r : all) codes.Set(HvName(r), Napi::Number::New(env, static_cast<double>(static_cast<uint32_t>(r))));
  return codes;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* state = new AddonState();
  env.SetInstanceData(state);  // deleted when the environment goes away
  state->vcpu_ctor = Napi::Persistent(VcpuWrap::Define(env));
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("returnCodes", ReturnCodes(env));
  exports.Set("capabilities", Napi::Function::New(env, Capabilities, "capabilities"));
  exports.Set("vmCreate", Napi::Function::New(env, VmCreate, "vmCreate"));
  exports.Set("vmDestroy", Napi::Function::New(env, VmDestroy, "vmDestroy"));
  exports.Set("vmMap", Napi::Function::New(env, VmMap, "vmMap"));
  exports.Set("vmUnmap", Napi::Function::New(env, VmUnmap, "vmUnmap"));
  exports.Set("vmProtect", Napi::Function::New(env, VmProtect, "vmProtect"));
  exports.Set("pageMisalignment", Napi::Function::New(env, PageMisalignment, "pageMisalignment"));
  exports.Set("gicParameters", Napi::Function::New(env, GicParameters, "gicParameters"));
  exports.Set("gicSetSpi", Napi::Function::New(env, GicSetSpi, "gicSetSpi"));
  exports.Set("gicReset", Napi::Function::New(env, GicReset, "gicReset"));
  exports.Set("gicSaveState", Napi::Function::New(env, GicSaveState, "gicSaveState"));
  exports.Set("gicRestoreState", Napi::Function::New(env, GicRestoreState, "gicRestoreState"));
  exports.Set("gicGetDistributorReg", Napi::Function::New(env, GicGetDistributorReg, "gicGetDistributorReg"));
  exports.Set("gicSetDistributorReg", Napi::Function::New(env, GicSetDistributorReg, "gicSetDistributorReg"));
  exports.Set("gicSendMsi", Napi::Function::New(env, GicSendMsi, "gicSendMsi"));
  exports.Set("vcpusExit", Napi::Function::New(env, VcpusExit, "vcpusExit"));
  exports.Set("vcpuConfigFeatureReg", Napi::Function::New(env, VcpuConfigFeatureReg, "vcpuConfigFeatureReg"));
  exports.Set("vcpuConfigCcsidr", Napi::Function::New(env, VcpuConfigCcsidr, "vcpuConfigCcsidr"));
  exports.Set("createVcpu", Napi::Function::New(env, CreateVcpu, "createVcpu"));
  return exports;
}

}  // namespace

// Environment teardown (process exit, or a worker that owned the VM ending). ObjectWrap
// finalizers ran first, so vCPU threads are gone; remove the mappings before V8 frees the
// ArrayBuffers behind them, then the VM itself.
AddonState::~AddonState() {
  if (!owns_vm || !g_vm_exists.load()) return;
  for (const MappedRegion& region : regions) hv_vm_unmap(region.gpa, static_cast<size_t>(region.size));
  if (LiveVcpuCount() == 0 && hv_vm_destroy() == HV_SUCCESS) g_vm_exists.store(false);
}

}  // namespace nodevisor_hvf

static Napi::Object InitNodevisorHvf(Napi::Env env, Napi::Object exports) { return nodevisor_hvf::Init(env, exports); }

NODE_API_MODULE(nodevisor_hvf, InitNodevisorHvf)
