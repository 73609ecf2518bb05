{
  # nodevisor_netdev: tap devices and unix datagram sockets for --net, on Linux and macOS.
  # Built by scripts/install.cjs (or `npm run build:netdev`) into native/netdev/build/, apart
  # from the HVF addon's build/ (see the top-level binding.gyp). Elsewhere: no targets.
  "targets": [],
  "conditions": [
    ["OS=='linux' or OS=='mac'", {
      "targets": [{
        "target_name": "nodevisor_netdev",
        "sources": ["addon.cc", "endpoints.cc", "frame_port.cc"],
        "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"],
        "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "."],
        # Warnings are not errors: this is compiled on users' machines by `npm install` with
        # whatever compiler they have, and a new warning must not cost them --net tap.
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
