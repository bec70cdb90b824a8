/*
 * The PostgreSQL interceptor's byte path in C: one thread per relay with an epoll loop accepts
 * clients, answers SSLRequest/GSSENCRequest with 'N', forwards CancelRequest, connects each session
 * to the upstream and copies bytes both ways with backpressure. Beside the copy it follows the v3
 * message framing (as src/shadows/sql/wire.ts does) to pair queries with their replies, draws the
 * same sampling verdict as src/ingest/sampler.ts (first 32 bits of the SHA-1 of the request id), and
 * hands only the kept queries (SQL text, raw Bind body, times, rows, bytes, SQLSTATE) to JavaScript,
 * where parsing, events and the shadow mirror live. Unkept queries cost a counter and one SHA-1.
 *
 * Threading: everything below `relay_main` runs on the relay thread only, except the rates (atomic),
 * the counters (atomic, read by `stats`) and the outbox of finished queries (mutex).
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <openssl/sha.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL_3 196608
#define SSL_REQUEST 80877103
#define GSSENC_REQUEST 80877104
#define CANCEL_REQUEST 80877102
#define MAX_STARTUP 10000
#define IO_BUFFER (32 * 1024)
#define MAX_OUTBOX 65536

enum { M_QUERY = 'Q', M_PARSE = 'P', M_BIND = 'B', M_EXECUTE = 'E', M_SYNC = 'S', M_CLOSE = 'C',
       M_COMPLETE = 'C', M_ERROR = 'E', M_READY = 'Z', M_EMPTY = 'I', M_SUSPENDED = 's' };
enum { K_SIMPLE, K_EXECUTE, K_SYNC };
enum { ST_STARTUP, ST_CONNECTING, ST_RELAY, ST_CANCEL, ST_CLOSING };

/* ---------- small growable byte buffer ---------- */

typedef struct { uint8_t *data; size_t start, end, cap; } buf_t;

static int buf_reserve(buf_t *b, size_t extra) {
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

static int buf_append(buf_t *b, const void *p, size_t n) {
  if (buf_reserve(b, n)) return -1;
  memcpy(b->data + b->end, p, n);
  b->end += n;
  return 0;
}

static size_t buf_pending(const buf_t *b) { return b->end - b->start; }
static void buf_free(buf_t *b) { free(b->data); memset(b, 0, sizeof *b); }

/** A NUL-terminated copy of `n` bytes. */
static char *dup_n(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) { memcpy(s, p, n); s[n] = 0; }
  return s;
}

static uint32_t be32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

/** Length of the C string at p within n bytes (n when unterminated). */
static size_t cstr_len(const uint8_t *p, size_t n) {
  const uint8_t *z = memchr(p, 0, n);
  return z ? (size_t)(z - p) : n;
}

static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static uint64_t mono_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000u + t.tv_nsec; }

/* ---------- sampling verdict (same as keepSample in src/ingest/sampler.ts) ---------- */

static int keep_sample(double rate, const char *id, size_t n) {
  if (rate >= 1) return 1;
  if (rate <= 0) return 0;
  uint8_t d[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)id, n, d);
  return (double)be32(d) / 4294967296.0 < rate;
}

/* ---------- finished queries handed to JavaScript ---------- */

typedef struct record {
  struct record *next;
  char id[48];
  char *user, *sql;
  uint8_t *bind; size_t bind_len; /* raw Bind body when the query may be mirrored */
  double at_ms, latency_ms;
  uint64_t bytes;
  int64_t rows; int has_rows;
  char sqlstate[6]; int has_error;
  int sampled, mirror;
} record;

static void record_free(record *r) { free(r->user); free(r->sql); free(r->bind); free(r); }

/* ---------- per-session state ---------- */

typedef struct unit {
  uint8_t kind, kept, sampled, mirror;
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
} named;

typedef struct { named *items; size_t n, cap; } name_map;

typedef struct tracker {
  uint8_t header[5]; int header_len;
  uint32_t remaining, wire_len; uint8_t type;
  int collecting; buf_t body;
  int broken;
} tracker;

struct relay;
struct conn;
typedef struct endpoint { struct conn *conn; int upstream; } endpoint;

typedef struct conn {
  struct relay *r;
  struct conn *prev, *next;
  int cfd, ufd, state, dead;
  endpoint ep_c, ep_u;
  uint32_t ev_c, ev_u;
  buf_t to_up, to_client;
  int c_eof, u_eof, up_shut, client_shut;
  tracker front, back;
  unit *units; size_t u_head, u_count, u_cap;
  name_map statements, portals;
  char prefix[16];
  char *user;
  uint64_t seq;
  uint64_t accepted_ns;
} conn;

typedef struct relay {
  int epfd, lfd, wakefd, spare_fd;
  struct sockaddr_storage upstream; socklen_t upstream_len;
  char upstream_text[80];
  pthread_t thread;
  _Atomic double sample_rate, mirror_rate;
  _Atomic uint64_t connections, active, queries, skipped_after_error, ssl_refused, cancels_forwarded,
    framing_lost, backlog_dropped, refused_no_fd, startup_timeouts;
  /* Clients still in the startup phase this long after connecting are closed (0: never). */
  uint64_t startup_timeout_ns, last_sweep_ns;
  int sweep_ms;
  conn *conns, *dead;
  pthread_mutex_t lock;
  record *out_head, *out_tail; size_t out_n;
  _Atomic int notify_pending;
  napi_threadsafe_function tsfn;
  endpoint ep_listen, ep_wake;
} relay;

#define INC(field) atomic_fetch_add_explicit(&r->field, 1, memory_order_relaxed)

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

static unit *units_push(conn *c) {
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

static unit *units_front(conn *c) { return c->u_count ? &c->units[c->u_head] : NULL; }

static unit units_shift(conn *c) {
  unit u = c->units[c->u_head];
  c->u_head = (c->u_head + 1) % c->u_cap;
  c->u_count--;
  return u;
}

static void units_clear(conn *c) {
  while (c->u_count) { unit u = units_shift(c); unit_release(&u); }
}

/* ---------- outbox ---------- */

static void outbox_push(relay *r, record *rec) {
  pthread_mutex_lock(&r->lock);
  if (r->out_n >= MAX_OUTBOX) {
    pthread_mutex_unlock(&r->lock);
    INC(backlog_dropped);
    record_free(rec);
    return;
  }
  if (r->out_tail) r->out_tail->next = rec; else r->out_head = rec;
  r->out_tail = rec;
  r->out_n++;
  pthread_mutex_unlock(&r->lock);
  if (!atomic_exchange(&r->notify_pending, 1)) napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
}

static record *outbox_take(relay *r) {
  pthread_mutex_lock(&r->lock);
  record *head = r->out_head;
  r->out_head = r->out_tail = NULL;
  r->out_n = 0;
  pthread_mutex_unlock(&r->lock);
  return head;
}

/** A kept query is finished: hand it over when telemetry keeps it, or the mirror can use it. */
static void complete(conn *c, unit *u) {
  if (!u->sampled && !(u->mirror && !u->has_error)) { unit_release(u); return; }
  record *rec = calloc(1, sizeof *rec);
  if (!rec) { unit_release(u); return; }
  snprintf(rec->id, sizeof rec->id, "%s%llu", c->prefix, (unsigned long long)u->seq);
  rec->user = strdup(c->user ? c->user : "");
  rec->sql = u->sql; u->sql = NULL;
  rec->bind = u->bind; rec->bind_len = u->bind_len; u->bind = NULL;
  rec->at_ms = u->at_ms;
  rec->latency_ms = (mono_ns() - u->t0) / 1e6;
  rec->bytes = u->bytes;
  rec->rows = u->rows; rec->has_rows = u->has_rows;
  memcpy(rec->sqlstate, u->sqlstate, sizeof rec->sqlstate); rec->has_error = u->has_error;
  rec->sampled = u->sampled; rec->mirror = u->mirror;
  outbox_push(c->r, rec);
}

/* ---------- framing ---------- */

typedef int (*want_fn)(conn *c, uint8_t type);
typedef void (*message_fn)(conn *c, uint8_t type, uint32_t wire_len, const uint8_t *body, size_t n, int has_body);

/** Incremental framer: every message is reported; bodies only of wanted types (copied only when split). */
static void tracker_feed(tracker *t, conn *c, const uint8_t *p, size_t n, want_fn want, message_fn on) {
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

static int front_wanted(conn *c, uint8_t type) {
  (void)c;
  return type == M_QUERY || type == M_PARSE || type == M_BIND || type == M_EXECUTE || type == M_SYNC || type == M_CLOSE;
}

static void open_query(conn *c, int kind, uint32_t wire_len, const uint8_t *body, size_t n) {
  relay *r = c->r;
  INC(queries);
  c->seq++;
  double sample = atomic_load_explicit(&r->sample_rate, memory_order_relaxed);
  double mirror = atomic_load_explicit(&r->mirror_rate, memory_order_relaxed);
  int sampled = 0, mirrored = 0;
  if (sample > 0 || mirror > 0) {
    char id[56];
    int len = snprintf(id, sizeof id, "m:%s%llu", c->prefix, (unsigned long long)c->seq);
    sampled = keep_sample(sample, id + 2, len - 2);
    mirrored = mirror > 0 && keep_sample(mirror, id, len);
  }
  unit *u = units_push(c);
  if (!u) return;
  u->kind = kind;
  if (!sampled && !mirrored) return;
  u->kept = 1; u->sampled = sampled; u->mirror = mirrored;
  u->seq = c->seq;
  u->bytes = wire_len;
  if (kind == K_SIMPLE) {
    u->sql = dup_n(body, cstr_len(body, n));
  } else {
    named *portal = map_find(&c->portals, body, cstr_len(body, n));
    u->sql = portal ? dup_n(portal->sql.data + portal->sql.start, buf_pending(&portal->sql)) : strdup("");
    if (portal && portal->has_bind && mirrored) {
      u->bind_len = buf_pending(&portal->bind);
      u->bind = malloc(u->bind_len ? u->bind_len : 1);
      if (u->bind) memcpy(u->bind, portal->bind.data + portal->bind.start, u->bind_len);
    }
  }
  u->at_ms = now_ms();
  u->t0 = mono_ns();
}

static void on_front(conn *c, uint8_t type, uint32_t wire_len, const uint8_t *body, size_t n, int has_body) {
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
      if (s) buf_append(&p->sql, s->sql.data + s->sql.start, buf_pending(&s->sql));
      /* Parameter values are kept only while a mirror may want them; telemetry never does. */
      p->bind.start = p->bind.end = 0;
      p->has_bind = atomic_load_explicit(&c->r->mirror_rate, memory_order_relaxed) > 0 && buf_append(&p->bind, body, n) == 0;
      break;
    }
    case M_CLOSE:
      if (n >= 1) map_remove(body[0] == 'S' ? &c->statements : &c->portals, body + 1, cstr_len(body + 1, n - 1));
      break;
  }
}

/* ---------- backend messages: close queries ---------- */

static int back_wanted(conn *c, uint8_t type) {
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

static void finish_front(conn *c) { unit u = units_shift(c); complete(c, &u); }

static void on_back(conn *c, uint8_t type, uint32_t wire_len, const uint8_t *body, size_t n, int has_body) {
  unit *head = units_front(c);
  if (!head) return;
  if (head->kept) head->bytes += wire_len;
  if (type == M_COMPLETE) {
    if (has_body && head->kept) tag_rows(head, body, n);
    if (head->kind == K_EXECUTE) finish_front(c);
  } else if (type == M_ERROR) {
    if (has_body && head->kept) error_state(head, body, n);
    if (head->kind == K_EXECUTE) finish_front(c);
  } else if ((type == M_EMPTY || type == M_SUSPENDED) && head->kind == K_EXECUTE) {
    finish_front(c);
  } else if (type == M_READY) {
    /* Closes one simple query, or one Sync batch whose remaining executes the server skipped. */
    while (c->u_count) {
      unit u = units_shift(c);
      if (u.kind == K_SYNC) break;
      if (u.kind == K_SIMPLE) { complete(c, &u); break; }
      unit_release(&u);
      atomic_fetch_add_explicit(&c->r->skipped_after_error, 1, memory_order_relaxed);
    }
  }
}

static void feed(conn *c, int from_upstream, const uint8_t *p, size_t n) {
  tracker *t = from_upstream ? &c->back : &c->front;
  if (t->broken) return;
  if (from_upstream) tracker_feed(t, c, p, n, back_wanted, on_back);
  else tracker_feed(t, c, p, n, front_wanted, on_front);
  if (t->broken) { relay *r = c->r; INC(framing_lost); units_clear(c); }
}

/* ---------- sessions ---------- */

static void conn_kill(conn *c);

static void set_events(conn *c, int upstream, uint32_t want) {
  int fd = upstream ? c->ufd : c->cfd;
  uint32_t *have = upstream ? &c->ev_u : &c->ev_c;
  if (fd < 0 || *have == want) return;
  struct epoll_event ev = { .events = want, .data.ptr = upstream ? &c->ep_u : &c->ep_c };
  epoll_ctl(c->r->epfd, EPOLL_CTL_MOD, fd, &ev);
  *have = want;
}

/** Recomputes what each socket waits for; closes the session once nothing is left to do. */
static void settle(conn *c) {
  if (c->dead) return;
  size_t up_pending = buf_pending(&c->to_up), client_pending = buf_pending(&c->to_client);
  if (c->state == ST_CLOSING && client_pending == 0) { conn_kill(c); return; }
  if (c->state == ST_STARTUP && c->c_eof) { conn_kill(c); return; }
  if (c->state == ST_RELAY) {
    if (c->c_eof && up_pending == 0 && !c->up_shut) { shutdown(c->ufd, SHUT_WR); c->up_shut = 1; }
    if (c->u_eof && client_pending == 0 && !c->client_shut) { shutdown(c->cfd, SHUT_WR); c->client_shut = 1; }
    if (c->up_shut && c->client_shut) { conn_kill(c); return; }
  }
  uint32_t ev_c = 0, ev_u = 0;
  if (c->state == ST_STARTUP) ev_c |= EPOLLIN;
  if (c->state == ST_RELAY && !c->c_eof && up_pending == 0) ev_c |= EPOLLIN;
  if (client_pending) ev_c |= EPOLLOUT;
  if (c->state == ST_RELAY && !c->u_eof && client_pending == 0) ev_u |= EPOLLIN;
  if (c->state == ST_CONNECTING || c->state == ST_CANCEL || up_pending) ev_u |= EPOLLOUT;
  set_events(c, 0, ev_c);
  set_events(c, 1, ev_u);
}

static void conn_kill(conn *c) {
  if (c->dead) return;
  relay *r = c->r;
  c->dead = 1;
  if (c->cfd >= 0) { close(c->cfd); c->cfd = -1; atomic_fetch_sub(&r->active, 1); }
  if (c->ufd >= 0) { close(c->ufd); c->ufd = -1; }
  if (c->prev) c->prev->next = c->next; else r->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = r->dead;
  r->dead = c;
}

static void conn_free(conn *c) {
  buf_free(&c->to_up); buf_free(&c->to_client);
  buf_free(&c->front.body); buf_free(&c->back.body);
  units_clear(c);
  free(c->units);
  map_free(&c->statements); map_free(&c->portals);
  free(c->user);
  free(c);
}

static conn *conn_new(relay *r, int cfd) {
  conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->r = r;
  c->cfd = cfd;
  c->ufd = -1;
  c->accepted_ns = mono_ns();
  c->ep_c = (endpoint){ c, 0 };
  c->ep_u = (endpoint){ c, 1 };
  uint8_t rnd[6];
  if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) for (int i = 0; i < 6; i++) rnd[i] = (uint8_t)rand();
  snprintf(c->prefix, sizeof c->prefix, "%02x%02x%02x%02x-%02x%02x-", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
  c->next = r->conns;
  if (r->conns) r->conns->prev = c;
  r->conns = c;
  return c;
}

/** An ErrorResponse from the proxy itself; the session ends once it is written to the client. */
static void fail_session(conn *c, const char *code, const char *message) {
  char fields[512];
  int n = snprintf(fields, sizeof fields, "SFATAL%cVFATAL%cC%s%cM%s%c", 0, 0, code, 0, message, 0);
  if (n < 0 || n >= (int)sizeof fields - 1) n = sizeof fields - 2;
  fields[n++] = 0;
  uint8_t head[5] = { 'E', (uint8_t)((n + 4) >> 24), (uint8_t)((n + 4) >> 16), (uint8_t)((n + 4) >> 8), (uint8_t)(n + 4) };
  buf_append(&c->to_client, head, 5);
  buf_append(&c->to_client, fields, n);
  c->to_up.start = c->to_up.end = 0;
  if (c->ufd >= 0) { close(c->ufd); c->ufd = -1; }
  c->state = ST_CLOSING;
}

static int connect_upstream(conn *c) {
  relay *r = c->r;
  int fd = socket(r->upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&r->upstream, r->upstream_len) < 0 && errno != EINPROGRESS) { int e = errno; close(fd); errno = e; return -1; }
  struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = &c->ep_u };
  epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
  c->ufd = fd;
  c->ev_u = EPOLLOUT;
  return 0;
}

static void upstream_failed(conn *c, int err) {
  char message[160];
  snprintf(message, sizeof message, "upstream unreachable: connect %s %s", strerrorname_np(err) ? strerrorname_np(err) : strerror(err), c->r->upstream_text);
  if (c->state == ST_CANCEL) { conn_kill(c); return; }
  fail_session(c, "08006", message);
}

/** Parses the startup phase from what the client sent so far (kept in to_up). */
static void startup(conn *c) {
  relay *r = c->r;
  buf_t *b = &c->to_up;
  while (buf_pending(b) >= 8) {
    const uint8_t *p = b->data + b->start;
    uint32_t len = be32(p), code = be32(p + 4);
    if (len < 8 || len > MAX_STARTUP) { fail_session(c, "08P01", "invalid startup packet length"); return; }
    if (buf_pending(b) < len) return;
    if (code == SSL_REQUEST || code == GSSENC_REQUEST) {
      INC(ssl_refused);
      buf_append(&c->to_client, "N", 1);
      b->start += len;
      continue;
    }
    if (code == CANCEL_REQUEST) {
      INC(cancels_forwarded);
      /* The client's part is over; this session now only delivers the packet upstream. */
      close(c->cfd);
      c->cfd = -1;
      atomic_fetch_sub(&r->active, 1);
      b->end = b->start + len;
      c->state = ST_CANCEL;
      if (connect_upstream(c)) conn_kill(c);
      return;
    }
    if (code != PROTOCOL_3) {
      char message[96];
      snprintf(message, sizeof message, "unsupported frontend protocol %u.%u", code >> 16, code & 0xffff);
      fail_session(c, "08P01", message);
      return;
    }
    for (size_t off = 8; off < len && p[off] != 0;) {
      size_t k = cstr_len(p + off, len - off);
      size_t v_at = off + k + 1;
      size_t v = v_at < len ? cstr_len(p + v_at, len - v_at) : 0;
      if (k == 4 && memcmp(p + off, "user", 4) == 0 && !c->user) c->user = dup_n(p + v_at, v);
      off = v_at + v + 1;
    }
    c->state = ST_CONNECTING;
    if (buf_pending(b) > len) feed(c, 0, p + len, buf_pending(b) - len);
    if (connect_upstream(c)) upstream_failed(c, errno);
    return;
  }
}

/** Writes what is pending towards one side; returns -1 on a broken socket. */
static int flush(conn *c, int upstream) {
  buf_t *b = upstream ? &c->to_up : &c->to_client;
  int fd = upstream ? c->ufd : c->cfd;
  while (buf_pending(b)) {
    ssize_t w = send(fd, b->data + b->start, buf_pending(b), MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    b->start += w;
  }
  b->start = b->end = 0;
  return 0;
}

/** Reads from one side into the buffer towards the other, forwards, then follows the framing. */
static int pump(conn *c, int from_upstream) {
  buf_t *b = from_upstream ? &c->to_client : &c->to_up;
  int fd = from_upstream ? c->ufd : c->cfd;
  if (buf_reserve(b, IO_BUFFER)) return -1;
  ssize_t n = recv(fd, b->data + b->end, b->cap - b->end, 0);
  if (n == 0) { if (from_upstream) c->u_eof = 1; else c->c_eof = 1; return 0; }
  if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
  const uint8_t *chunk = b->data + b->end;
  b->end += n;
  if (c->state == ST_STARTUP) { startup(c); return 0; }
  if (flush(c, !from_upstream)) return -1;
  /* The chunk stays valid: flushing only moves offsets, and nothing is read before the next pump. */
  feed(c, from_upstream, chunk, n);
  return 0;
}

static void on_event(conn *c, int upstream, uint32_t events) {
  if (c->dead) return;
  if (upstream && (c->state == ST_CONNECTING || c->state == ST_CANCEL)) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (!err && !(events & EPOLLOUT)) err = ECONNABORTED;
    if (err) { upstream_failed(c, err); settle(c); return; }
    if (c->state == ST_CONNECTING) c->state = ST_RELAY;
    if (flush(c, 1)) { conn_kill(c); return; }
    if (c->state == ST_CANCEL && buf_pending(&c->to_up) == 0) { conn_kill(c); return; }
    settle(c);
    return;
  }
  if ((events & EPOLLOUT) && flush(c, upstream)) { conn_kill(c); return; }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    int wanted = upstream ? (c->ev_u & EPOLLIN) : (c->ev_c & EPOLLIN);
    if (wanted && pump(c, upstream)) { conn_kill(c); return; }
    /* A reset (or a hang-up while this side is not being read) would otherwise be reported forever. */
    if (!wanted && (events & (EPOLLERR | EPOLLHUP))) { conn_kill(c); return; }
  }
  settle(c);
}

static void accept_clients(relay *r) {
  for (;;) {
    int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && r->spare_fd >= 0) {
      /* Out of descriptors: the pending client would be reported forever (level-triggered).
       * Use the spare to accept and close it, so the client sees a refusal, then take it back. */
      close(r->spare_fd);
      fd = accept(r->lfd, NULL, NULL);
      if (fd >= 0) close(fd);
      r->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      /* accept reports EMFILE before it looks at the queue: stop once the queue is empty. */
      if (fd < 0) return;
      atomic_fetch_add_explicit(&r->refused_no_fd, 1, memory_order_relaxed);
      continue;
    }
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = conn_new(r, fd);
    if (!c) { close(fd); continue; }
    INC(connections);
    INC(active);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->ep_c };
    epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
    c->ev_c = EPOLLIN;
  }
}

/**
 * Closes the clients that have not finished their startup packet within the startup timeout: a
 * half-open client would otherwise hold its descriptor for good, and enough of them refuse
 * everyone else. A walk over all sessions, made at most every sweep_ms.
 */
static void sweep_startups(relay *r) {
  uint64_t now = mono_ns();
  if (!r->startup_timeout_ns || now - r->last_sweep_ns < (uint64_t)r->sweep_ms * 1000000u) return;
  r->last_sweep_ns = now;
  for (conn *c = r->conns, *next; c; c = next) {
    next = c->next;
    if (c->state == ST_STARTUP && now - c->accepted_ns >= r->startup_timeout_ns) { INC(startup_timeouts); conn_kill(c); }
  }
}

static void *relay_main(void *arg) {
  relay *r = arg;
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(r->epfd, events, 64, r->startup_timeout_ns ? r->sweep_ms : -1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      endpoint *ep = events[i].data.ptr;
      if (ep == &r->ep_wake) goto done;
      if (ep == &r->ep_listen) { accept_clients(r); continue; }
      on_event(ep->conn, ep->upstream, events[i].events);
    }
    sweep_startups(r);
    while (r->dead) { conn *c = r->dead; r->dead = c->next; conn_free(c); }
  }
done:
  while (r->conns) conn_kill(r->conns);
  while (r->dead) { conn *c = r->dead; r->dead = c->next; conn_free(c); }
  return NULL;
}

/* ---------- JavaScript interface ---------- */

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, #call " failed"); return NULL; } } while (0)

static void set_number(napi_env env, napi_value obj, const char *key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

static void set_string(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value x;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &x);
  napi_set_named_property(env, obj, key, x);
}

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
    napi_set_element(env, list, i++, o);
    record_free(rec);
    rec = next;
  }
  return list;
}

static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)data;
  relay *r = context;
  if (!env) return;
  atomic_store(&r->notify_pending, 0);
  record *rec = outbox_take(r);
  if (!rec) return;
  napi_value list = records_to_js(env, rec), undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, callback, 1, &list, NULL);
}

static void relay_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  relay *r = data;
  record *rec = outbox_take(r);
  while (rec) { record *next = rec->next; record_free(rec); rec = next; }
  pthread_mutex_destroy(&r->lock);
  free(r);
}

static int parse_address(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) { a4->sin_family = AF_INET; a4->sin_port = htons(port); *len = sizeof *a4; return 0; }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) { a6->sin6_family = AF_INET6; a6->sin6_port = htons(port); *len = sizeof *a6; return 0; }
  return -1;
}

static double get_number(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  double d = 0;
  napi_get_named_property(env, obj, key, &v);
  napi_get_value_double(env, v, &d);
  return d;
}

static void get_string(napi_env env, napi_value obj, const char *key, char *out, size_t cap) {
  napi_value v;
  size_t n = 0;
  out[0] = 0;
  napi_get_named_property(env, obj, key, &v);
  napi_get_value_string_utf8(env, v, out, cap, &n);
}

static relay *unwrap(napi_env env, napi_callback_info info, size_t want, napi_value *args) {
  size_t argc = want;
  void *data = NULL;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < want || napi_get_value_external(env, args[0], &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "expected a relay handle");
    return NULL;
  }
  return data;
}

/**
 * start({ listenHost, listenPort, upstreamHost, upstreamPort, sampleRate, mirrorRate, startupTimeoutMs }, onQueries)
 * -> { handle, port }. startupTimeoutMs 0 never times out a startup packet. Hosts are numeric addresses (the caller resolves names). Throws with `code`
 * (e.g. EADDRINUSE) when the address cannot be bound.
 */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  char listen_host[64], upstream_host[64];
  get_string(env, args[0], "listenHost", listen_host, sizeof listen_host);
  get_string(env, args[0], "upstreamHost", upstream_host, sizeof upstream_host);
  int listen_port = (int)get_number(env, args[0], "listenPort");
  int upstream_port = (int)get_number(env, args[0], "upstreamPort");

  relay *r = calloc(1, sizeof *r);
  if (!r) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  atomic_store(&r->sample_rate, get_number(env, args[0], "sampleRate"));
  atomic_store(&r->mirror_rate, get_number(env, args[0], "mirrorRate"));
  double startup_ms = get_number(env, args[0], "startupTimeoutMs");
  if (startup_ms > 0) {
    r->startup_timeout_ns = (uint64_t)(startup_ms * 1e6);
    /* Sweeps a quarter of the timeout apart (10 ms to 1 s): a client is closed at most 25 % late. */
    r->sweep_ms = startup_ms / 4 < 10 ? 10 : startup_ms / 4 > 1000 ? 1000 : (int)(startup_ms / 4);
  }
  struct sockaddr_storage local;
  socklen_t local_len;
  if (parse_address(upstream_host, upstream_port, &r->upstream, &r->upstream_len) || parse_address(listen_host, listen_port, &local, &local_len)) {
    free(r);
    napi_throw_type_error(env, NULL, "listenHost and upstreamHost must be numeric IPv4 or IPv6 addresses");
    return NULL;
  }
  snprintf(r->upstream_text, sizeof r->upstream_text, strchr(upstream_host, ':') ? "[%s]:%d" : "%s:%d", upstream_host, upstream_port);

  r->lfd = socket(local.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (r->lfd < 0 || setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 || bind(r->lfd, (struct sockaddr *)&local, local_len) < 0 || listen(r->lfd, 511) < 0) {
    int e = errno;
    if (r->lfd >= 0) close(r->lfd);
    free(r);
    char message[160];
    snprintf(message, sizeof message, "listen %s %s:%d", strerrorname_np(e) ? strerrorname_np(e) : "error", listen_host, listen_port);
    napi_throw_error(env, strerrorname_np(e), message);
    return NULL;
  }
  socklen_t bound_len = sizeof local;
  getsockname(r->lfd, (struct sockaddr *)&local, &bound_len);
  int port = ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port : ((struct sockaddr_in6 *)&local)->sin6_port);

  r->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  r->ep_listen = (endpoint){ NULL, 0 };
  r->ep_wake = (endpoint){ NULL, 0 };
  struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &r->ep_listen };
  struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &r->ep_wake };
  epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd, &lev);
  epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &wev);
  pthread_mutex_init(&r->lock, NULL);

  napi_value name;
  napi_create_string_utf8(env, "pg-relay", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_threadsafe_function(env, args[1], NULL, name, 0, 1, r, relay_finalize, r, call_js, &r->tsfn));
  if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    close(r->lfd); close(r->epfd); close(r->wakefd);
    napi_throw_error(env, NULL, "could not start the relay thread");
    return NULL;
  }

  napi_value result, handle;
  napi_create_object(env, &result);
  napi_create_external(env, r, NULL, NULL, &handle);
  napi_set_named_property(env, result, "handle", handle);
  set_number(env, result, "port", port);
  return result;
}

/** setRates(handle, sampleRate, mirrorRate): applies to queries opened from now on. */
static napi_value set_rates(napi_env env, napi_callback_info info) {
  napi_value args[3];
  relay *r = unwrap(env, info, 3, args);
  if (!r) return NULL;
  double sample = 0, mirror = 0;
  napi_get_value_double(env, args[1], &sample);
  napi_get_value_double(env, args[2], &mirror);
  atomic_store(&r->sample_rate, sample);
  atomic_store(&r->mirror_rate, mirror);
  return NULL;
}

static napi_value counters(napi_env env, relay *r) {
  napi_value o;
  napi_create_object(env, &o);
  set_number(env, o, "connections", (double)atomic_load(&r->connections));
  set_number(env, o, "active", (double)atomic_load(&r->active));
  set_number(env, o, "queries", (double)atomic_load(&r->queries));
  set_number(env, o, "skippedAfterError", (double)atomic_load(&r->skipped_after_error));
  set_number(env, o, "sslRefused", (double)atomic_load(&r->ssl_refused));
  set_number(env, o, "cancelsForwarded", (double)atomic_load(&r->cancels_forwarded));
  set_number(env, o, "framingLost", (double)atomic_load(&r->framing_lost));
  set_number(env, o, "backlogDropped", (double)atomic_load(&r->backlog_dropped));
  set_number(env, o, "refusedNoDescriptor", (double)atomic_load(&r->refused_no_fd));
  set_number(env, o, "startupTimeouts", (double)atomic_load(&r->startup_timeouts));
  return o;
}

/** stats(handle) -> the relay's counters. */
static napi_value stats(napi_env env, napi_callback_info info) {
  napi_value args[1];
  relay *r = unwrap(env, info, 1, args);
  return r ? counters(env, r) : NULL;
}

/**
 * stop(handle) -> { stats, queries }: stops accepting, ends every session, and returns the final
 * counters and the finished queries not yet delivered. The handle is invalid afterwards.
 */
static napi_value stop(napi_env env, napi_callback_info info) {
  napi_value args[1];
  relay *r = unwrap(env, info, 1, args);
  if (!r) return NULL;
  uint64_t one = 1;
  if (write(r->wakefd, &one, sizeof one) < 0) { /* the loop also ends on a closed epoll */ }
  pthread_join(r->thread, NULL);
  close(r->lfd); close(r->epfd); close(r->wakefd);
  if (r->spare_fd >= 0) close(r->spare_fd);
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "stats", counters(env, r));
  napi_set_named_property(env, result, "queries", records_to_js(env, outbox_take(r)));
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "start", NULL, start, NULL, NULL, NULL, napi_default, NULL },
    { "setRates", NULL, set_rates, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL },
    { "stop", NULL, stop, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
