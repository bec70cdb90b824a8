/*
 * Following one PostgreSQL v3 session from its bytes, shared by the relay (pg_relay.c, which sees
 * the bytes it copies) and the tap (tap.c, which sees them in captured packets): message framing
 * in both directions, prepared statements and portals, the queue that pairs queries with their
 * replies, the sampling verdict of src/ingest/sampler.ts, and the outbox of kept queries that crosses
 * into JavaScript through a thread-safe function.
 */
#ifndef SHADOWPLANE_PG_TRACK_H
#define SHADOWPLANE_PG_TRACK_H

#include "addon.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PROTOCOL_3 196608
#define SSL_REQUEST 80877103
#define GSSENC_REQUEST 80877104
#define CANCEL_REQUEST 80877102
#define MAX_STARTUP 10000

/* ---------- small growable byte buffer ---------- */

typedef struct { uint8_t *data; size_t start, end, cap; } buf_t;

int buf_reserve(buf_t *b, size_t extra);
int buf_append(buf_t *b, const void *p, size_t n);
static inline size_t buf_pending(const buf_t *b) { return b->end - b->start; }
void buf_free(buf_t *b);

uint32_t be32(const uint8_t *p);
/** Length of the C string at p within n bytes (n when unterminated). */
size_t cstr_len(const uint8_t *p, size_t n);
/** A NUL-terminated copy of `n` bytes. */
char *dup_n(const uint8_t *p, size_t n);
/** The `user` parameter of a StartupMessage of `len` bytes (NULL when absent). */
char *startup_user(const uint8_t *p, size_t len);

/* ---------- finished queries handed to JavaScript ---------- */

/**
 * A finished query (or, from the HTTP tap, a finished exchange: `sql` holds the request head,
 * `bind` the request body, and `status`, `resp_head`, `resp_body` the response).
 */
typedef struct record {
  struct record *next;
  char id[136];
  char *user, *sql;
  uint8_t *bind; size_t bind_len; /* raw Bind body when the query may be mirrored */
  double at_ms, latency_ms;
  uint64_t bytes;
  int64_t rows; int has_rows;
  char sqlstate[6]; int has_error;
  int sampled, mirror;
  /**
   * Reported when the env's report_rate is set: the probability this record was sampled with, and
   * the share of time its capture window's gates cover (its verdicts were drawn at rate / share).
   */
  double sampling_rate, capture_share;
  int status, body_oversized;
  char *resp_head;
  uint8_t *resp_body; size_t resp_body_len; int has_resp_body;
} record;

/**
 * What the sessions of one relay or tap share: rates (atomic, set from JavaScript), counters
 * (atomic, read by `stats`) and the outbox of finished queries (mutex) with the function that
 * delivers it to JavaScript.
 */
typedef struct pg_env {
  _Atomic double sample_rate, mirror_rate;
  /**
   * The tap's capture window (see tap.c), read by the session thread only. `window_closed`: no
   * query opened now is kept. `window_share`: the nominal share of time the capture is open (1 when
   * continuous); keep verdicts are drawn at rate / window_share so the rates hold over all time.
   * `window_actual`: the share the open window really covers, which a record's sampling_rate uses.
   */
  int window_closed;
  double window_share, window_actual;
  /** Records carry their sampling probability (the tap's: it may differ from the rate). */
  int report_rate;
  /** Kept queries (or exchanges) opened and not yet finished, over all sessions. */
  uint64_t kept_open;
  _Atomic uint64_t queries, skipped_after_error, framing_lost, backlog_dropped;
  pthread_mutex_t lock;
  record *out_head, *out_tail; size_t out_n;
  _Atomic int notify_pending;
  napi_threadsafe_function tsfn;
} pg_env;

/* ---------- one session ---------- */

typedef struct unit {
  uint8_t kind, kept, sampled, mirror;
  double rate, share;
  uint64_t seq;
  double at_ms; uint64_t t0;
  uint64_t bytes;
  int64_t rows; int has_rows;
  char sqlstate[6]; int has_error;
  char *sql; uint8_t *bind; size_t bind_len;
} unit;

/**
 * A prepared statement or portal: its SQL and, for portals, the Bind body when wanted. Looked up
 * by a linear scan: a session holds few (clients name a statement once and reuse it, or Close it).
 */
typedef struct named {
  char *name; size_t name_len;
  buf_t sql;
  buf_t bind; int has_bind;
  int unknown; /* a portal bound to a statement prepared before this session was followed */
} named;

typedef struct { named *items; size_t n, cap; } name_map;

typedef struct tracker {
  uint8_t header[5]; int header_len;
  uint32_t remaining, wire_len; uint8_t type;
  int collecting; buf_t body;
  int broken;
} tracker;

typedef struct pg_session {
  pg_env *env;
  tracker front, back;
  unit *units; size_t u_head, u_count, u_cap;
  name_map statements, portals;
  char prefix[16];
  char *user;
  uint64_t seq;
  /** Time of the bytes being fed, ns since the epoch (the tap's packet timestamps); 0: read the clocks. */
  uint64_t ts_ns;
  /** CommandComplete with no query open: the reply stream is not the one the queue expects. */
  uint64_t unmatched;
  /** Followed from the middle (the tap's sessions open before it, or after a gap): statements may be unknown. */
  int resumed;
  /** Executes of a statement prepared before the session was followed: no SQL, not reported. */
  uint64_t unknown_statement;
} pg_session;

/** The verdict of keepSample in src/ingest/sampler.ts: the first 32 bits of the id's SHA-1 below rate. */
int keep_sample(double rate, const char *id, size_t n);
/**
 * The verdicts for a query or exchange opened now with sampling id `id` (its mirror id is "m:" + id):
 * sets *sampled, *mirror, *rate (the probability of *sampled over all time) and *share (the
 * window's nominal share of time). Counts it as kept open when either verdict is set.
 */
void pg_env_verdict(pg_env *e, const char *id, size_t n, int *sampled, int *mirror, double *rate, double *share);
/** A kept query or exchange finished (or was forgotten). */
static inline void pg_env_kept_done(pg_env *e) { e->kept_open--; }
/** Hands a finished record to JavaScript (dropped and counted when 65,536 are waiting). */
void outbox_push(pg_env *e, record *rec);

void pg_env_init(pg_env *e, double sample_rate, double mirror_rate);
/** Frees what the outbox still holds and the lock. */
void pg_env_destroy(pg_env *e);
/** Creates the thread-safe function delivering batches of finished queries to `callback`. */
napi_status pg_env_deliver_to(pg_env *e, napi_env env, napi_value callback, const char *name,
                              napi_finalize finalize, void *finalize_data);

/** A new session with a random request-id prefix. */
void pg_session_init(pg_session *s, pg_env *e);
void pg_session_free(pg_session *s);
/** Feeds bytes of one direction (after the startup phase); returns 1 once its framing is lost. */
int pg_session_feed(pg_session *s, int from_backend, const uint8_t *p, size_t n);
/** Forgets open queries and restarts the framing of both directions at a message boundary. */
void pg_session_restart(pg_session *s, int forget_statements);

/* ---------- JavaScript interface ---------- */

/** setRates(handle, sampleRate, mirrorRate) for the already unwrapped `args`: sets `e`'s rates. */
napi_value pg_env_set_rates_js(napi_env env, pg_env *e, napi_value *args);
/** Takes the outbox and converts it to an array of plain objects (freeing the records). */
napi_value pg_env_take_js(napi_env env, pg_env *e);
/** Sets the counters every pg_env holds on `o`. */
void pg_env_counters(napi_env env, pg_env *e, napi_value o);

#endif
