/* The JavaScript edge and clocks both addons share (see addon.h). */
#define _GNU_SOURCE
#include "addon.h"

#include <stdio.h>
#include <time.h>

uint64_t mono_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000u + t.tv_nsec; }
double now_ms(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }

void set_number(napi_env env, napi_value obj, const char *key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

void set_string(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value x;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &x);
  napi_set_named_property(env, obj, key, x);
}

double get_number(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  double d = 0;
  napi_get_named_property(env, obj, key, &v);
  napi_get_value_double(env, v, &d);
  return d;
}

void get_string(napi_env env, napi_value obj, const char *key, char *out, size_t cap) {
  napi_value v;
  size_t n = 0;
  out[0] = 0;
  napi_get_named_property(env, obj, key, &v);
  napi_get_value_string_utf8(env, v, out, cap, &n);
}

void *unwrap_handle(napi_env env, napi_callback_info info, size_t want, napi_value *args, const char *what) {
  size_t argc = want;
  void *data = NULL;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < want || napi_get_value_external(env, args[0], &data) != napi_ok || !data) {
    char message[64];
    snprintf(message, sizeof message, "expected %s", what);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  return data;
}

napi_value handle_result(napi_env env, void *data) {
  napi_value result, handle;
  napi_create_object(env, &result);
  napi_create_external(env, data, NULL, NULL, &handle);
  napi_set_named_property(env, result, "handle", handle);
  return result;
}

napi_value define_addon(napi_env env, napi_value exports, napi_callback start, napi_callback set_rates,
                        napi_callback stats, napi_callback stop) {
  napi_property_descriptor props[] = {
    { "start", NULL, start, NULL, NULL, NULL, napi_default, NULL },
    { "setRates", NULL, set_rates, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL },
    { "stop", NULL, stop, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
