{
  # nodevisor_hostfs: extended attributes and race-free calls beneath a share root for virtio-fs,
  # hole punching for virtio-blk, on Linux and macOS (Node's fs has none of them). Built by
  # scripts/install.cjs (or `npm run build:hostfs`) into native/hostfs/build/. Elsewhere: no targets.
  "targets": [],
  "conditions": [
    ["OS=='linux' or OS=='mac'", {
      "targets": [{
        "target_name": "nodevisor_hostfs",
        "sources": ["addon.cc", "args.cc", "at_ops.cc", "beneath.cc", "xattr.cc"],
        "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"],
        "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
        # Warnings are not errors: users compile this with whatever compiler they have.
        "cflags_cc": ["-std=gnu++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-exceptions"],
        "xcode_settings": {
          "MACOSX_DEPLOYMENT_TARGET": "11.0",
          "CLANG_CXX_LANGUAGE_STANDARD": "gnu++17",
          "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
          "WARNING_CFLAGS": ["-Wall", "-Wextra", "-Wno-unused-parameter"],
          "OTHER_CPLUSPLUSFLAGS": ["-fno-exceptions"]
        }
      }]
    }]
  ]
}
