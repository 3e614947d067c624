{
  "targets": [
    {
      "target_name": "pinlatch",
      "sources": [
        "native/src/addon.cc",
        "native/src/batch_buffers.cc",
        "native/src/control_channel.cc",
        "native/src/env_loop.cc",
        "native/src/ip_prefix.cc",
        "native/src/js_error.cc",
        "native/src/latch_state.cc",
        "native/src/relay.cc",
        "native/src/rtp_check.cc",
        "native/src/socket_address.cc",
        "native/src/socket_buffers.cc",
        "native/src/spare_sockets.cc",
        "native/src/stream.cc",
        "native/src/thread_placement.cc",
        "native/src/udp_socket.cc",
        "native/src/uring_engine.cc",
        "native/src/uring_ring.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/include"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [["OS!='linux'", { "type": "none" }]]
    }
  ]
}
