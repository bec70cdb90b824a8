{
  "targets": [
    {
      "target_name": "pg_relay",
      "sources": ["native/pg_relay.c", "native/pg_track.c", "native/addon.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "tap",
      "sources": ["native/tap.c", "native/pg_track.c", "native/http_track.c", "native/addon.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    }
  ]
}
