/*
 * Following a PostgreSQL v3 session beside its bytes (see pg_track.h): framing, statements and
 * portals, the reply queue, the sampling verdict, and the outbox towards JavaScript. Everything on a
 * pg_session runs on one thread (the relay's or the tap's); the pg_env's rates and counters are
 * atomic and its outbox has a lock.
 */
#define _GNU_SOURCE
#include "pg_track.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

enum { M_QUERY = 'Q', M_PARSE = 'P', M_BIND = 'B', M_EXECUTE = 'E', M_SYNC = 'S', M_CLOSE = 'C',
       M_COMPLETE = 'C', M_ERROR = 'E', M_READY = 'Z', M_EMPTY = 'I', M_SUSPENDED = 's' };
enum { K_SIMPLE, K_EXECUTE, K_SYNC };
#define MAX_OUTBOX 65536

#define INC(field) atomic_fetch_add_explicit(&e->field, 1, memory_order_relaxed)

/* ---------- small growable byte buffer ---------- */

int buf_reserve(buf_t *b, size_t extra) {
  if (b->start > 0 && b->start == b->end) b->start = b->end = 0;
  if (b->end + extra <= b->cap) return 0;
  size_t live = b->end - b->start;
  if (b->start > 0) { memmove(b->data, b->data + b->start, live); b->start = 0; b->end = live; }
  if (live + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < live + extra) cap *= 2;
  uint8_t *d = realloc(b->data, cap);
  if (!d) return -1;
  b->data = d;
  b->cap = cap;
  return 0;
}

int buf_append(buf_t *b, const void *p, size_t n) {
  if (buf_reserve(b, n)) return -1;
  memcpy(b->data + b->end, p, n);
  b->end += n;
  return 0;
}

void buf_free(buf_t *b) { free(b->data); memset(b, 0, sizeof *b); }

char *dup_n(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) { memcpy(s, p, n); s[n] = 0; }
  return s;
}

uint32_t be32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

size_t cstr_len(const uint8_t *p, size_t n) {
  const uint8_t *z = memchr(p, 0, n);
  return z ? (size_t)(z - p) : n;
}

char *startup_user(const uint8_t *p, size_t len) {
  for (size_t off = 8; off < len && p[off] != 0;) {
    size_t k = cstr_len(p + off, len - off);
    size_t v_at = off + k + 1;
    size_t v = v_at < len ? cstr_len(p + v_at, len - v_at) : 0;
    if (k == 4 && memcmp(p + off, "user", 4) == 0) return dup_n(p + v_at, v);
    off = v_at + v + 1;
  }
  return NULL;
}

/* ---------- sampling verdict (same as keepSample in src/ingest/sampler.ts) ---------- */

int keep_sample(double rate, const char *id, size_t n) {
  if (rate >= 1) return 1;
  if (rate <= 0) return 0;
  uint8_t d[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)id, n, d);
  return (double)be32(d) / 4294967296.0 < rate;
}

void pg_env_verdict(pg_env *e, const char *id, size_t n, int *sampled, int *mirror, double *rate, double *share) {
  double sample = atomic_load_explicit(&e->sample_rate, memory_order_relaxed);
  double mrate = atomic_load_explicit(&e->mirror_rate, memory_order_relaxed);
  *sampled = *mirror = 0;
  *rate = 0;
  *share = e->window_share;
  if (e->window_closed || (sample <= 0 && mrate <= 0)) return;
  sample /= e->window_share;
  *sampled = keep_sample(sample, id, n);
  if (mrate > 0) {
    char mid[160];
    int len = snprintf(mid, sizeof mid, "m:%.*s", (int)n, id);
    *mirror = keep_sample(mrate / e->window_share, mid, (size_t)len);
  }
  *rate = (sample < 1 ? sample : 1) * e->window_actual;
  if (*sampled || *mirror) e->kept_open++;
}

/* ---------- outbox ---------- */

static void record_free(record *r) { free(r->user); free(r->sql); free(r->bind); free(r->resp_head); free(r->resp_body); free(r); }

void pg_env_init(pg_env *e, double sample_rate, double mirror_rate) {
  atomic_store(&e->sample_rate, sample_rate);
  atomic_store(&e->mirror_rate, mirror_rate);
  e->window_share = e->window_actual = 1;
  pthread_mutex_init(&e->lock, NULL);
}

static record *outbox_take(pg_env *e) {
  pthread_mutex_lock(&e->lock);
  record *head = e->out_head;
  e->out_head = e->out_tail = NULL;
  e->out_n = 0;
  pthread_mutex_unlock(&e->lock);
  return head;
}

void pg_env_destroy(pg_env *e) {
  record *rec = outbox_take(e);
  while (rec) { record *next = rec->next; record_free(rec); rec = next; }
  pthread_mutex_destroy(&e->lock);
}

void outbox_push(pg_env *e, record *rec) {
  pthread_mutex_lock(&e->lock);
  if (e->out_n >= MAX_OUTBOX) {
    pthread_mutex_unlock(&e->lock);
    INC(backlog_dropped);
    record_free(rec);
    return;
  }
  if (e->out_tail) e->out_tail->next = rec; else e->out_head = rec;
  e->out_tail = rec;
  e->out_n++;
  pthread_mutex_unlock(&e->lock);
  if (!atomic_exchange(&e->notify_pending, 1)) napi_call_threadsafe_function(e->tsfn, NULL, napi_tsfn_nonblocking);
}

/* ---------- name maps ---------- */

static named *map_find(name_map *m, const uint8_t *name, size_t n) {
  for (size_t i = 0; i < m->n; i++)
    if (m->items[i].name_len == n && memcmp(m->items[i].name, name, n) == 0) return &m->items[i];
  return NULL;
}

static named *map_put(name_map *m, const uint8_t *name, size_t n) {
  named *e = map_find(m, name, n);
  if (e) return e;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 4;
    named *items = realloc(m->items, cap * sizeof *items);
    if (!items) return NULL;
    m->items = items;
    m->cap = cap;
  }
  e = &m->items[m->n];
  memset(e, 0, sizeof *e);
  e->name = dup_n(name, n);
  if (!e->name) return NULL;
  e->name_len = n;
  m->n++;
  return e;
}

static void named_free(named *e) { free(e->name); buf_free(&e->sql); buf_free(&e->bind); }

static void map_remove(name_map *m, const uint8_t *name, size_t n) {
  named *e = map_find(m, name, n);
  if (!e) return;
  named_free(e);
  *e = m->items[--m->n];
}

static void map_free(name_map *m) {
  for (size_t i = 0; i < m->n; i++) named_free(&m->items[i]);
  free(m->items);
  memset(m, 0, sizeof *m);
}

/* ---------- query queue ---------- */

static void unit_release(unit *u) { free(u->sql); free(u->bind); u->sql = NULL; u->bind = NULL; }

/** A unit that will not be reported. */
static void unit_drop(pg_session *c, unit *u) {
  if (u->kept) pg_env_kept_done(c->env);
  unit_release(u);
}

static unit *units_push(pg_session *c) {
  if (c->u_count == c->u_cap) {
    size_t cap = c->u_cap ? c->u_cap * 2 : 16;
    unit *items = malloc(cap * sizeof *items);
    if (!items) return NULL;
    for (size_t i = 0; i < c->u_count; i++) items[i] = c->units[(c->u_head + i) % c->u_cap];
    free(c->units);
    c->units = items;
    c->u_cap = cap;
    c->u_head = 0;
  }
  unit *u = &c->units[(c->u_head + c->u_count++) % c->u_cap];
  memset(u, 0, sizeof *u);
  return u;
}

static unit *units_front(pg_session *c) { return c->u_count ? &c->units[c->u_head] : NULL; }

static unit units_shift(pg_session *c) {
  unit u = c->units[c->u_head];
  c->u_head = (c->u_head + 1) % c->u_cap;
  c->u_count--;
  return u;
}

static void units_clear(pg_session *c) {
  while (c->u_count) { unit u = units_shift(c); unit_drop(c, &u); }
}

/* The clocks of a query: the capture timestamp when the bytes came with one, else now. */
static double wall_ms(const pg_session *c) { return c->ts_ns ? c->ts_ns / 1e6 : now_ms(); }
static uint64_t tick_ns(const pg_session *c) { return c->ts_ns ? c->ts_ns : mono_ns(); }

/** A kept query is finished: hand it over when telemetry keeps it, or the mirror can use it. */
static void complete(pg_session *c, unit *u) {
  if (u->kept) pg_env_kept_done(c->env);
  if (!u->sampled && !(u->mirror && !u->has_error)) { unit_release(u); return; }
  record *rec = calloc(1, sizeof *rec);
  if (!rec) { unit_release(u); return; }
  snprintf(rec->id, sizeof rec->id, "%s%llu", c->prefix, (unsigned long long)u->seq);
  rec->user = strdup(c->user ? c->user : "");
  rec->sql = u->sql; u->sql = NULL;
  rec->bind = u->bind; rec->bind_len = u->bind_len; u->bind = NULL;
  rec->at_ms = u->at_ms;
  rec->latency_ms = (tick_ns(c) - u->t0) / 1e6;
  rec->bytes = u->bytes;
  rec->rows = u->rows; rec->has_rows = u->has_rows;
  memcpy(rec->sqlstate, u->sqlstate, sizeof rec->sqlstate); rec->has_error = u->has_error;
  rec->sampled = u->sampled; rec->mirror = u->mirror;
  if (c->env->report_rate) { rec->sampling_rate = u->rate; rec->capture_share = u->share; }
  outbox_push(c->env, rec);
}

/* ---------- framing ---------- */

typedef int (*want_fn)(pg_session *c, uint8_t type);
typedef void (*message_fn)(pg_session *c, uint8_t type, uint32_t wire_len, const uint8_t *body, size_t n, int has_body);

/** Incremental framer: every message is reported; bodies only of wanted types (copied only when split). */
static void tracker_feed(tracker *t, pg_session *c, const uint8_t *p, size_t n, want_fn want, message_fn on) {
  size_t off = 0;
  while (off < n && !t->broken) {
    if (t->remaining > 0) {
      size_t take = t->remaining < n - off ? t->remaining : n - off;
      if (t->collecting && buf_append(&t->body, p + off, take)) t->collecting = 0;
      t->remaining -= take;
      off += take;
      if (t->remaining == 0) {
        on(c, t->type, t->wire_len, t->body.data + t->body.start, buf_pending(&t->body), t->collecting);
        t->collecting = 0;
        t->body.start = t->body.end = 0;
      }
      continue;
    }
    uint32_t len;
    if (t->header_len == 0 && n - off >= 5) {
      t->type = p[off];
      len = be32(p + off + 1);
      off += 5;
    } else {
      while (t->header_len < 5 && off < n) t->header[t->header_len++] = p[off++];
      if (t->header_len < 5) return;
      t->type = t->header[0];
      len = be32(t->header + 1);
      t->header_len = 0;
    }
    if (len < 4 || len > 0x7fffffff) { t->broken = 1; return; }
    t->wire_len = len + 1;
    t->remaining = len - 4;
    int w = want(c, t->type);
    if (t->remaining == 0) { on(c, t->type, t->wire_len, (const uint8_t *)"", 0, w); continue; }
    if (w && n - off >= t->remaining) {
      on(c, t->type, t->wire_len, p + off, t->remaining, 1);
      off += t->remaining;
      t->remaining = 0;
      continue;
    }
    t->collecting = w;
    t->body.start = t->body.end = 0;
  }
}

/* ---------- frontend messages: open queries, follow statements and portals ---------- */

static int front_wanted(pg_session *c, uint8_t type) {
  (void)c;
  return type == M_QUERY || type == M_PARSE || type == M_BIND || type == M_EXECUTE || type == M_SYNC || type == M_CLOSE;
}

static void open_query(pg_session *c, int kind, uint32_t wire_len, const uint8_t *body, size_t n) {
  pg_env *e = c->env;
  INC(queries);
  c->seq++;
  named *portal = kind == K_EXECUTE ? map_find(&c->portals, body, cstr_len(body, n)) : NULL;
  if (portal && portal->unknown) c->unknown_statement++;
  int sampled = 0, mirrored = 0;
  double rate = 0, share = 1;
  if (!(portal && portal->unknown)) {
    char id[40];
    int len = snprintf(id, sizeof id, "%s%llu", c->prefix, (unsigned long long)c->seq);
    pg_env_verdict(e, id, (size_t)len, &sampled, &mirrored, &rate, &share);
  }
  unit *u = units_push(c);
  if (!u) { if (sampled || mirrored) pg_env_kept_done(e); return; }
  u->kind = kind;
  if (!sampled && !mirrored) return;
  u->kept = 1; u->sampled = sampled; u->mirror = mirrored; u->rate = rate; u->share = share;
  u->seq = c->seq;
  u->bytes = wire_len;
  if (kind == K_SIMPLE) {
    u->sql = dup_n(body, cstr_len(body, n));
  } else {
    u->sql = portal ? dup_n(portal->sql.data + portal->sql.start, buf_pending(&portal->sql)) : strdup("");
    if (portal && portal->has_bind && mirrored) {
      u->bind_len = buf_pending(&portal->bind);
      u->bind = malloc(u->bind_len ? u->bind_len : 1);
      if (u->bind) memcpy(u->bind, portal->bind.data + portal->bind.start, u->bind_len);
    }
  }
  u->at_ms = wall_ms(c);
  u->t0 = tick_ns(c);
}

static void on_front(pg_session *c, uint8_t type, uint32_t wire_len, const uint8_t *body, size_t n, int has_body) {
  if (!has_body) return;
  switch (type) {
    case M_QUERY: open_query(c, K_SIMPLE, wire_len, body, n); break;
    case M_EXECUTE: open_query(c, K_EXECUTE, wire_len, body, n); break;
    case M_SYNC: { unit *u = units_push(c); if (u) u->kind = K_SYNC; break; }
    case M_PARSE: {
      size_t name_len = cstr_len(body, n);
      size_t at = name_len + 1 < n ? name_len + 1 : n;
      named *s = map_put(&c->statements, body, name_len);
      if (!s) break;
      s->sql.start = s->sql.end = 0;
      buf_append(&s->sql, body + at, cstr_len(body + at, n - at));
      break;
    }
    case M_BIND: {
      size_t portal_len = cstr_len(body, n);
      size_t at = portal_len + 1 < n ? portal_len + 1 : n;
      named *p = map_put(&c->portals, body, portal_len);
      if (!p) break;
      named *s = map_find(&c->statements, body + at, cstr_len(body + at, n - at));
      p->sql.start = p->sql.end = 0;
      p->unknown = s == NULL && c->resumed;
      if (s) buf_append(&p->sql, s->sql.data + s->sql.start, buf_pending(&s->sql));
      /* Parameter values are kept only while a mirror may want them; telemetry never does. */
      p->bind.start = p->bind.end = 0;
      p->has_bind = atomic_load_explicit(&c->env->mirror_rate, memory_order_relaxed) > 0 && buf_append(&p->bind, body, n) == 0;
      break;
    }
    case M_CLOSE:
      if (n >= 1) map_remove(body[0] == 'S' ? &c->statements : &c->portals, body + 1, cstr_len(body + 1, n - 1));
      break;
  }
}

/* ---------- backend messages: close queries ---------- */

static int back_wanted(pg_session *c, uint8_t type) {
  unit *u = units_front(c);
  return (type == M_COMPLETE || type == M_ERROR) && u && u->kept;
}

static void tag_rows(unit *u, const uint8_t *body, size_t n) {
  size_t end = cstr_len(body, n), i = end;
  while (i > 0 && body[i - 1] >= '0' && body[i - 1] <= '9') i--;
  if (i == end || i == 0 || body[i - 1] != ' ') return;
  int64_t rows = 0;
  for (size_t k = i; k < end; k++) rows = rows * 10 + (body[k] - '0');
  u->rows += rows;
  u->has_rows = 1;
}

static void error_state(unit *u, const uint8_t *body, size_t n) {
  if (u->has_error) return;
  u->has_error = 1;
  strcpy(u->sqlstate, "XX000");
  size_t off = 0;
  while (off < n && body[off] != 0) {
    uint8_t field = body[off];
    size_t len = cstr_len(body + off + 1, n - off - 1);
    if (field == 'C') {
      size_t k = len < 5 ? len : 5;
      memcpy(u->sqlstate, body + off + 1, k);
      u->sqlstate[k] = 0;
      return;
    }
    off += len + 2;
  }
}

static void finish_front(pg_session *c) { unit u = units_shift(c); complete(c, &u); }

static void on_back(pg_session *c, uint8_t type, uint32_t wire_len, const uint8_t *body, size_t n, int has_body) {
  unit *head = units_front(c);
  if (!head || (head->kind == K_SYNC && type == M_COMPLETE)) { if (type == M_COMPLETE) c->unmatched++; return; }
  if (head->kept) head->bytes += wire_len;
  if (type == M_COMPLETE) {
    if (has_body && head->kept) tag_rows(head, body, n);
    if (head->kind == K_EXECUTE) finish_front(c);
  } else if (type == M_ERROR) {
    if (has_body && head->kept) error_state(head, body, n);
    if (head->kind == K_EXECUTE) finish_front(c);
    /* An error ends a simple query (the rest of its text is skipped, only ReadyForQuery follows),
       and a client may close as soon as it sees the error, before the relay reads that
       ReadyForQuery: the query is complete now, and its place, no longer kept, waits for it. */
    else if (head->kind == K_SIMPLE && head->kept) {
      unit u = *head;
      memset(head, 0, sizeof *head);
      head->kind = K_SIMPLE;
      complete(c, &u);
    }
  } else if ((type == M_EMPTY || type == M_SUSPENDED) && head->kind == K_EXECUTE) {
    finish_front(c);
  } else if (type == M_READY) {
    /* Closes one simple query, or one Sync batch whose remaining executes the server skipped. */
    while (c->u_count) {
      unit u = units_shift(c);
      if (u.kind == K_SYNC) break;
      if (u.kind == K_SIMPLE) { complete(c, &u); break; }
      unit_drop(c, &u);
      atomic_fetch_add_explicit(&c->env->skipped_after_error, 1, memory_order_relaxed);
    }
  }
}

int pg_session_feed(pg_session *c, int from_backend, const uint8_t *p, size_t n) {
  tracker *t = from_backend ? &c->back : &c->front;
  if (t->broken) return 1;
  if (from_backend) tracker_feed(t, c, p, n, back_wanted, on_back);
  else tracker_feed(t, c, p, n, front_wanted, on_front);
  if (t->broken) { pg_env *e = c->env; INC(framing_lost); units_clear(c); return 1; }
  return 0;
}

/* ---------- sessions ---------- */

void pg_session_init(pg_session *c, pg_env *e) {
  memset(c, 0, sizeof *c);
  c->env = e;
  uint8_t rnd[6];
  if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) for (int i = 0; i < 6; i++) rnd[i] = (uint8_t)rand();
  snprintf(c->prefix, sizeof c->prefix, "%02x%02x%02x%02x-%02x%02x-", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

static void tracker_reset(tracker *t) {
  buf_t body = t->body;
  memset(t, 0, sizeof *t);
  body.start = body.end = 0;
  t->body = body;
}

void pg_session_restart(pg_session *c, int forget_statements) {
  units_clear(c);
  tracker_reset(&c->front);
  tracker_reset(&c->back);
  if (forget_statements) { map_free(&c->statements); map_free(&c->portals); }
}

void pg_session_free(pg_session *c) {
  buf_free(&c->front.body); buf_free(&c->back.body);
  units_clear(c);
  free(c->units);
  map_free(&c->statements); map_free(&c->portals);
  free(c->user);
  memset(c, 0, sizeof *c);
}

/* ---------- JavaScript interface ---------- */

static napi_value records_to_js(napi_env env, record *rec) {
  napi_value list;
  napi_create_array(env, &list);
  uint32_t i = 0;
  while (rec) {
    record *next = rec->next;
    napi_value o, flag;
    napi_create_object(env, &o);
    set_string(env, o, "requestId", rec->id);
    set_string(env, o, "user", rec->user ? rec->user : "");
    set_string(env, o, "sql", rec->sql ? rec->sql : "");
    if (rec->bind) {
      napi_value b;
      void *data;
      napi_create_buffer_copy(env, rec->bind_len, rec->bind, &data, &b);
      napi_set_named_property(env, o, "bind", b);
    }
    set_number(env, o, "at", rec->at_ms);
    set_number(env, o, "latencyMs", rec->latency_ms);
    set_number(env, o, "bytes", (double)rec->bytes);
    if (rec->has_rows) set_number(env, o, "rows", (double)rec->rows);
    if (rec->has_error) set_string(env, o, "error", rec->sqlstate);
    napi_get_boolean(env, rec->sampled, &flag);
    napi_set_named_property(env, o, "sampled", flag);
    napi_get_boolean(env, rec->mirror, &flag);
    napi_set_named_property(env, o, "mirror", flag);
    if (rec->sampling_rate > 0 && rec->sampling_rate < 1) set_number(env, o, "samplingRate", rec->sampling_rate);
    if (rec->capture_share > 0 && rec->capture_share < 1) set_number(env, o, "captureShare", rec->capture_share);
    if (rec->status) set_number(env, o, "status", rec->status);
    if (rec->body_oversized) { napi_get_boolean(env, 1, &flag); napi_set_named_property(env, o, "bodyOversized", flag); }
    if (rec->resp_head) set_string(env, o, "responseHead", rec->resp_head);
    if (rec->has_resp_body) {
      napi_value b;
      void *data;
      napi_create_buffer_copy(env, rec->resp_body_len, rec->resp_body ? rec->resp_body : (uint8_t *)"", &data, &b);
      napi_set_named_property(env, o, "responseBody", b);
    }
    napi_set_element(env, list, i++, o);
    record_free(rec);
    rec = next;
  }
  return list;
}

napi_value pg_env_take_js(napi_env env, pg_env *e) { return records_to_js(env, outbox_take(e)); }

static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)data;
  pg_env *e = context;
  if (!env) return;
  atomic_store(&e->notify_pending, 0);
  record *rec = outbox_take(e);
  if (!rec) return;
  napi_value list = records_to_js(env, rec), undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, callback, 1, &list, NULL);
}

napi_status pg_env_deliver_to(pg_env *e, napi_env env, napi_value callback, const char *name,
                              napi_finalize finalize, void *finalize_data) {
  napi_value n;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &n);
  return napi_create_threadsafe_function(env, callback, NULL, n, 0, 1, finalize_data, finalize, e, call_js, &e->tsfn);
}

napi_value pg_env_set_rates_js(napi_env env, pg_env *e, napi_value *args) {
  double sample = 0, mirror = 0;
  napi_get_value_double(env, args[1], &sample);
  napi_get_value_double(env, args[2], &mirror);
  atomic_store(&e->sample_rate, sample);
  atomic_store(&e->mirror_rate, mirror);
  return NULL;
}

void pg_env_counters(napi_env env, pg_env *e, napi_value o) {
  set_number(env, o, "queries", (double)atomic_load(&e->queries));
  set_number(env, o, "skippedAfterError", (double)atomic_load(&e->skipped_after_error));
  set_number(env, o, "framingLost", (double)atomic_load(&e->framing_lost));
  set_number(env, o, "backlogDropped", (double)atomic_load(&e->backlog_dropped));
}
