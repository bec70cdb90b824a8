/*
 * What the two addons (pg_relay.c, tap.c) share at their JavaScript edge and in their clocks: the
 * property helpers, the handle every call but start() takes, and the module's four functions
 * (start, setRates, stats, stop).
 */
#ifndef SHADOWPLANE_ADDON_H
#define SHADOWPLANE_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/** CLOCK_MONOTONIC in ns. */
uint64_t mono_ns(void);
/** CLOCK_REALTIME in ms since the epoch. */
double now_ms(void);

void set_number(napi_env env, napi_value obj, const char *key, double v);
void set_string(napi_env env, napi_value obj, const char *key, const char *s);
double get_number(napi_env env, napi_value obj, const char *key);
void get_string(napi_env env, napi_value obj, const char *key, char *out, size_t cap);

/**
 * The handle (an external made by start) in args[0] of a call taking `want` arguments; NULL after
 * throwing a TypeError naming `what` (e.g. "a tap handle").
 */
void *unwrap_handle(napi_env env, napi_callback_info info, size_t want, napi_value *args, const char *what);

/** Wraps `data` as the handle start() returns: { handle }. */
napi_value handle_result(napi_env env, void *data);

/** Exports start, setRates, stats and stop. */
napi_value define_addon(napi_env env, napi_value exports, napi_callback start, napi_callback set_rates,
                        napi_callback stats, napi_callback stop);

#endif
