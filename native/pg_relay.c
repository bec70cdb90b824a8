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
#define _GNU_SOURCE
#include "pg_track.h"

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
#include <sys/socket.h>
#include <unistd.h>

#define IO_BUFFER (32 * 1024)

enum { ST_STARTUP, ST_CONNECTING, ST_RELAY, ST_CANCEL, ST_CLOSING };

/* ---------- per-session state ---------- */

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
  pg_session pg;
  uint64_t accepted_ns;
} conn;

typedef struct relay {
  int epfd, lfd, wakefd, spare_fd;
  struct sockaddr_storage upstream; socklen_t upstream_len;
  char upstream_text[80];
  pthread_t thread;
  pg_env env;
  _Atomic uint64_t connections, active, ssl_refused, cancels_forwarded, refused_no_fd, startup_timeouts;
  /* Clients still in the startup phase this long after connecting are closed (0: never). */
  uint64_t startup_timeout_ns, last_sweep_ns;
  int sweep_ms;
  conn *conns, *dead;
  endpoint ep_listen, ep_wake;
} relay;

#define INC(field) atomic_fetch_add_explicit(&r->field, 1, memory_order_relaxed)

/** Follows the framing of what was just forwarded (see pg_track.c). */
static void feed(conn *c, int from_upstream, const uint8_t *p, size_t n) { pg_session_feed(&c->pg, from_upstream, p, n); }

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
  pg_session_free(&c->pg);
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
  pg_session_init(&c->pg, &r->env);
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
    if (!c->pg.user) c->pg.user = startup_user(p, len);
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

/**
 * Out of descriptors with the startup timeout on: closes the client that has been in its startup
 * phase the longest, if that is at least a second (or the whole timeout, if shorter). A real
 * client sends its startup packet within milliseconds, so a flood of half-open connections gives
 * way to new clients instead of refusing them until the timeout frees descriptors. Counted with
 * the startup timeouts. Returns whether one was closed.
 */
static int evict_stalest_startup(relay *r) {
  if (!r->startup_timeout_ns) return 0;
  uint64_t now = mono_ns(), min_age = r->startup_timeout_ns < 1000000000u ? r->startup_timeout_ns : 1000000000u;
  conn *stalest = NULL;
  /* The list is newest first: the last match is the one waiting longest. */
  for (conn *c = r->conns; c; c = c->next) if (c->state == ST_STARTUP && now - c->accepted_ns >= min_age) stalest = c;
  if (!stalest) return 0;
  INC(startup_timeouts);
  conn_kill(stalest);
  return 1;
}

static void accept_clients(relay *r) {
  for (;;) {
    int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && evict_stalest_startup(r)) continue;
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

static void relay_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  relay *r = data;
  pg_env_destroy(&r->env);
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

/**
 * start({ listenHost, listenPort, upstreamHost, upstreamPort, sampleRate, mirrorRate, startupTimeoutMs }, onQueries)
 * -> { handle, port }. Hosts are numeric addresses (the caller resolves names). Throws with `code`
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
  pg_env_init(&r->env, get_number(env, args[0], "sampleRate"), get_number(env, args[0], "mirrorRate"));
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

  CHECK(pg_env_deliver_to(&r->env, env, args[1], "pg-relay", relay_finalize, r));
  if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
    napi_release_threadsafe_function(r->env.tsfn, napi_tsfn_abort);
    close(r->lfd); close(r->epfd); close(r->wakefd);
    napi_throw_error(env, NULL, "could not start the relay thread");
    return NULL;
  }

  napi_value result = handle_result(env, r);
  set_number(env, result, "port", port);
  return result;
}

/** setRates(handle, sampleRate, mirrorRate): applies to queries opened from now on. */
static napi_value set_rates(napi_env env, napi_callback_info info) {
  napi_value args[3];
  relay *r = unwrap_handle(env, info, 3, args, "a relay handle");
  return r ? pg_env_set_rates_js(env, &r->env, args) : NULL;
}

static napi_value counters(napi_env env, relay *r) {
  napi_value o;
  napi_create_object(env, &o);
  set_number(env, o, "connections", (double)atomic_load(&r->connections));
  set_number(env, o, "active", (double)atomic_load(&r->active));
  pg_env_counters(env, &r->env, o);
  set_number(env, o, "sslRefused", (double)atomic_load(&r->ssl_refused));
  set_number(env, o, "cancelsForwarded", (double)atomic_load(&r->cancels_forwarded));
  set_number(env, o, "refusedNoDescriptor", (double)atomic_load(&r->refused_no_fd));
  set_number(env, o, "startupTimeouts", (double)atomic_load(&r->startup_timeouts));
  return o;
}

/** stats(handle) -> the relay's counters. */
static napi_value stats(napi_env env, napi_callback_info info) {
  napi_value args[1];
  relay *r = unwrap_handle(env, info, 1, args, "a relay handle");
  return r ? counters(env, r) : NULL;
}

/**
 * stop(handle) -> { stats, queries }: stops accepting, ends every session, and returns the final
 * counters and the finished queries not yet delivered. The handle is invalid afterwards.
 */
static napi_value stop(napi_env env, napi_callback_info info) {
  napi_value args[1];
  relay *r = unwrap_handle(env, info, 1, args, "a relay handle");
  if (!r) return NULL;
  uint64_t one = 1;
  if (write(r->wakefd, &one, sizeof one) < 0) { /* the loop also ends on a closed epoll */ }
  pthread_join(r->thread, NULL);
  close(r->lfd); close(r->epfd); close(r->wakefd);
  if (r->spare_fd >= 0) close(r->spare_fd);
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "stats", counters(env, r));
  napi_set_named_property(env, result, "queries", pg_env_take_js(env, &r->env));
  napi_release_threadsafe_function(r->env.tsfn, napi_tsfn_release);
  return result;
}

static napi_value init(napi_env env, napi_value exports) { return define_addon(env, exports, start, set_rates, stats, stop); }

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
