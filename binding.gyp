{
  # The HVF addon exists only on macOS arm64. Elsewhere this file yields an empty
  # target list, so even a stray `node-gyp rebuild` compiles nothing.
  # The network addon (nodevisor_netdev) has its own native/netdev/binding.gyp and build/
  # directory: prebuildify and node-gyp-build take the first .node file they find in
  # build/Release, so a second target here could be shipped as the HVF prebuild.
  "targets": [],
  "conditions": [
    ["OS=='mac' and target_arch=='arm64'", {
      "targets": [{
        "target_name": "nodevisor_hvf",
        "sources": ["native/hvf/addon.mm", "native/hvf/vcpu.mm"],
        "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"],
        "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/hvf"],
        "libraries": ["-framework Hypervisor"],
        "xcode_settings": {
          "MACOSX_DEPLOYMENT_TARGET": "11.0",
          "CLANG_CXX_LANGUAGE_STANDARD": "gnu++17",
          "CLANG_ENABLE_OBJC_ARC": "NO",
          "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
          "GCC_TREAT_WARNINGS_AS_ERRORS": "YES",
          "WARNING_CFLAGS": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wunguarded-availability-new"],
          "OTHER_CPLUSPLUSFLAGS": ["-fno-exceptions"]
        }
      }]
    }]
  ]
}
