/*
 * The tap (pg-tap, http-tap): follows sessions from packets captured off an interface instead of
 * from a relay's own sockets, so nothing sits on the data path. One thread per tap reads a
 * TPACKET_V3 ring (AF_PACKET, SOCK_DGRAM, a classic BPF filter on the server's TCP port),
 * reassembles each TCP stream in both directions from sequence numbers, and feeds the bytes to the
 * relay's PostgreSQL session following (pg_track.c) or to the HTTP/1.1 following (http_track.c),
 * with the packets' timestamps as the clock. Only kept queries or exchanges cross into JavaScript.
 * The proofs of a boundary below are PostgreSQL's; HTTP's are in deliver_http.
 *
 * What it cannot see it counts, never guesses over:
 *  - a stream hole (a packet the kernel dropped, a truncated capture, out-of-order data beyond
 *    OOO_LIMIT, or bytes the peer acknowledged that were never captured) is a gap: the session's open
 *    queries are forgotten and it waits for a boundary it can prove before it reports again;
 *  - a session open before the tap started (no SYN seen) waits for the same proof;
 *  - TLS sessions (SSLRequest answered 'S', GSSENCRequest answered 'G') are counted and skipped.
 * The proof of a boundary: one server segment that parses from its first byte as whole backend
 * messages ending exactly with ReadyForQuery (the server is idle), then one client segment that
 * parses as whole frontend messages. Replies that match no open query afterwards (a pipelining
 * client caught between the two) are counted as mismatches and the session waits again.
 *
 * Below a rate of MAX_WINDOW_SHARE the capture runs in windows (see `schedule`): between them the
 * kernel filter passes nothing but StartupMessages, so the kernel copies no packet and the thread
 * sleeps. Each window is, for every session, like a fresh start: the bytes sent meanwhile were never
 * captured by intent, so they are neither a gap nor a drop; the session waits for a proven boundary.
 * Queries whose message completes inside the window's gate are kept at rate / share and carry the
 * probability they were kept with (the gate's real share of its period times the in-gate rate).
 *
 * Needs CAP_NET_RAW (socket(AF_PACKET) fails with EPERM otherwise; start() throws naming it).
 */
#define _GNU_SOURCE
#include "http_track.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/** Out-of-order bytes buffered per direction before the hole before them is declared a gap. */
#define OOO_LIMIT (1u << 20)
#define BUCKETS 16384
#define MAX_SESSIONS 100000
/** Sessions with no packet for this long are forgotten (their end was not captured). */
#define IDLE_NS (300ull * 1000000000ull)
#define STATS_EVERY_NS (250ull * 1000000ull)
#define MS (1000000ull)
/** Above this share of time a window schedule saves little: the capture stays on. */
#define MAX_WINDOW_SHARE 0.25
/** After a window's gate closes the capture stays on at least this long (blocks retire after 10 ms)... */
#define DRAIN_MIN_NS (25 * MS)
/** ...and at most this long for the kept queries opened in it to finish (those still open are cut). */
#define DRAIN_MAX_NS (1000 * MS)

enum { T_STARTUP, T_SSL_ANSWER, T_FOLLOW, T_RESYNC, T_TLS, T_IGNORE };

typedef struct seg { struct seg *next; uint32_t seq, len; int fin; uint64_t ts; uint8_t data[]; } seg;

/** One direction of a TCP stream: the next sequence number expected and what arrived early. */
typedef struct flow {
  int started, fin_done;
  uint32_t next;
  seg *ooo; size_t ooo_bytes;
} flow;

typedef struct key { uint8_t client[16], server[16]; uint16_t cport; uint8_t v6; } key;

typedef struct tsess {
  struct tsess *hnext, *prev, *next;
  key k;
  flow dir[2]; /* 0: client to server, 1: server to client */
  int state, back_idle, unsynced, paused;
  buf_t startup;
  uint64_t last_ns, unmatched_seen;
  pg_session pg;     /* PostgreSQL mode */
  http_session http; /* HTTP mode */
} tsess;

/**
 * The capture schedule. Continuous: the port filter stays attached. Windows: time is cut into
 * periods of window_ns / share; in each, one gate of window_ns opens at a uniformly random offset.
 * The filter is attached window_ns / 2 before the gate (sessions prove a boundary meanwhile) and
 * detached once the gate has closed and the kept queries opened in it have finished.
 */
typedef struct schedule {
  uint64_t window_ns; /* 0: always continuous */
  int windowed, capture_on;
  double share;       /* the nominal share of time the gates cover */
  uint64_t period_ns, period_start, open_at, on_at, gate_from, gate_to;
  uint64_t started, covered_ns, continuous_since;
  uint64_t paused_at; /* when the sessions were last paused: older packets belong to the window before */
  unsigned short rnd[3];
} schedule;

typedef struct tap {
  int fd, wakefd, port, http, loopback;
  http_conf conf;
  schedule w;
  uint8_t *ring; size_t ring_len, block_size; unsigned block_nr;
  pthread_t thread;
  pg_env env;
  tsess *buckets[BUCKETS];
  tsess *all;
  size_t n_sessions;
  uint64_t last_sweep, last_stats;
  _Atomic uint64_t packets, kernel_packets, kernel_drops, truncated, sessions, active, midstream, unsynced,
    resynced, gaps, tls_skipped, cancels, mismatches, unknown_statement, overflow, not_postgres, windows, window_cut;
  _Atomic double capture_share;
} tap;

#define INC(field) atomic_fetch_add_explicit(&t->field, 1, memory_order_relaxed)
#define DEC(field) atomic_fetch_sub_explicit(&t->field, 1, memory_order_relaxed)

static int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

/* ---------- proving a message boundary ---------- */

static int frontend_type(uint8_t c) { return c && strchr("QPBESDCHFdcfXp", c) != NULL; }
static int backend_type(uint8_t c) { return c && strchr("RKSZTDCENA123InstvGHWdcV", c) != NULL; }

/**
 * Whether `p` is whole messages of one direction from its first byte to its last (message types
 * of that direction, lengths that land exactly on the end, Query and CommandComplete bodies ending
 * in NUL, ReadyForQuery of length 5 with a valid status); `ready` says the last one is ReadyForQuery.
 */
static int whole_messages(const uint8_t *p, size_t n, int backend, int *ready) {
  size_t off = 0;
  uint8_t last = 0;
  while (off < n) {
    if (n - off < 5) return 0;
    uint8_t type = p[off];
    uint32_t len = be32(p + off + 1);
    if (len < 4 || len > n - off - 1) return 0;
    if (!(backend ? backend_type(type) : frontend_type(type))) return 0;
    const uint8_t *end = p + off + len; /* last byte of the message */
    if (backend && type == 'Z' && (len != 5 || !strchr("ITE", *end))) return 0;
    if (((!backend && type == 'Q') || (backend && type == 'C')) && (len == 4 || *end != 0)) return 0;
    if (!backend && type == 'S' && len != 4) return 0;
    last = type;
    off += 1 + (size_t)len;
  }
  *ready = last == 'Z';
  return n > 0;
}

/* ---------- sessions ---------- */

static uint32_t key_hash(const key *k) {
  uint32_t h = 2166136261u;
  const uint8_t *p = (const uint8_t *)k;
  for (size_t i = 0; i < sizeof *k; i++) { h ^= p[i]; h *= 16777619u; }
  return h % BUCKETS;
}

static void flow_clear(flow *f) {
  while (f->ooo) { seg *s = f->ooo; f->ooo = s->next; free(s); }
  memset(f, 0, sizeof *f);
}

static void set_unsynced(tap *t, tsess *s, int on) {
  if (s->unsynced == on) return;
  s->unsynced = on;
  if (on) INC(unsynced); else DEC(unsynced);
}

static void sess_free(tap *t, tsess *s) {
  tsess **b = &t->buckets[key_hash(&s->k)];
  while (*b != s) b = &(*b)->hnext;
  *b = s->hnext;
  if (s->prev) s->prev->next = s->next; else t->all = s->next;
  if (s->next) s->next->prev = s->prev;
  set_unsynced(t, s, 0);
  atomic_fetch_add_explicit(&t->unknown_statement, s->pg.unknown_statement, memory_order_relaxed);
  flow_clear(&s->dir[0]); flow_clear(&s->dir[1]);
  buf_free(&s->startup);
  if (t->http) http_session_free(&s->http); else pg_session_free(&s->pg);
  free(s);
  t->n_sessions--;
  DEC(active);
}

static tsess *sess_find(tap *t, const key *k) {
  for (tsess *s = t->buckets[key_hash(k)]; s; s = s->hnext)
    if (memcmp(&s->k, k, sizeof *k) == 0) return s;
  return NULL;
}

static tsess *sess_new(tap *t, const key *k) {
  if (t->n_sessions >= MAX_SESSIONS) { INC(overflow); return NULL; }
  tsess *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->k = *k;
  if (t->http) http_session_init(&s->http, &t->env, &t->conf); else pg_session_init(&s->pg, &t->env);
  uint32_t h = key_hash(k);
  s->hnext = t->buckets[h];
  t->buckets[h] = s;
  s->next = t->all;
  if (t->all) t->all->prev = s;
  t->all = s;
  t->n_sessions++;
  INC(sessions);
  INC(active);
  return s;
}

/** Stops following until a boundary is proven; `forget` drops statements too (bytes were lost). */
static void resync(tap *t, tsess *s, int forget) {
  if (t->http) http_session_restart(&s->http);
  else { pg_session_restart(&s->pg, forget); s->pg.resumed = 1; }
  s->state = T_RESYNC;
  s->back_idle = 0;
  set_unsynced(t, s, 1);
}

/* ---------- the byte streams of a session ---------- */

static void startup_phase(tap *t, tsess *s) {
  buf_t *b = &s->startup;
  while (s->state == T_STARTUP && buf_pending(b) >= 8) {
    const uint8_t *p = b->data + b->start;
    uint32_t len = be32(p), code = be32(p + 4);
    if (len < 8 || len > MAX_STARTUP) { INC(not_postgres); s->state = T_IGNORE; return; }
    if (buf_pending(b) < len) return;
    if (code == SSL_REQUEST || code == GSSENC_REQUEST) { b->start += len; s->state = T_SSL_ANSWER; return; }
    if (code == CANCEL_REQUEST) { INC(cancels); s->state = T_IGNORE; return; }
    if (code != PROTOCOL_3) { INC(not_postgres); s->state = T_IGNORE; return; }
    s->pg.user = startup_user(p, len);
    b->start += len;
    s->state = T_FOLLOW;
    if (buf_pending(b)) pg_session_feed(&s->pg, 0, b->data + b->start, buf_pending(b));
    buf_free(b);
  }
}

/** In-order bytes of one direction of an HTTP connection. */
static void deliver_http(tap *t, tsess *s, int dir, const uint8_t *p, size_t n, uint64_t ts) {
  switch (s->state) {
    case T_STARTUP:
      if (dir == 1) return;
      if (p[0] == 0x16) { INC(tls_skipped); s->state = T_TLS; return; } /* a TLS handshake record */
      s->state = T_FOLLOW;
      break;
    case T_RESYNC:
      if (dir == 1) { s->back_idle = http_whole_responses(p, n); return; }
      if (!(s->back_idle && http_request_start(p, n))) { s->back_idle = 0; return; }
      INC(resynced);
      set_unsynced(t, s, 0);
      s->state = T_FOLLOW;
      break;
    case T_FOLLOW:
      break;
    default:
      return;
  }
  if (http_session_feed(&s->http, dir, p, n, ts)) {
    if (s->http.upgraded) { s->state = T_IGNORE; return; }
    atomic_fetch_add_explicit(&t->env.framing_lost, 1, memory_order_relaxed);
    resync(t, s, 1);
  }
}

/** A StartupMessage whole in one segment: how a session that began between windows names its user. */
static int whole_startup(const uint8_t *p, size_t n) { return n >= 8 && be32(p) == n && be32(p + 4) == PROTOCOL_3; }

/** In-order bytes of one direction. */
static void deliver(tap *t, tsess *s, int dir, const uint8_t *p, size_t n, uint64_t ts) {
  if (t->http) { deliver_http(t, s, dir, p, n, ts); return; }
  s->pg.ts_ns = ts;
  switch (s->state) {
    case T_STARTUP:
      if (dir == 0 && !buf_append(&s->startup, p, n)) startup_phase(t, s);
      return;
    case T_SSL_ANSWER:
      if (dir == 0) { buf_append(&s->startup, p, n); return; }
      if (p[0] == 'N') { s->state = T_STARTUP; startup_phase(t, s); return; }
      if (p[0] == 'S' || p[0] == 'G') { INC(tls_skipped); s->state = T_TLS; return; }
      INC(not_postgres);
      s->state = T_IGNORE;
      return;
    case T_RESYNC: {
      /* A StartupMessage whole in one segment (also captured between windows): a new session's user. */
      if (dir == 0 && whole_startup(p, n)) { free(s->pg.user); s->pg.user = startup_user(p, n); return; }
      int ready = 0;
      int whole = whole_messages(p, n, dir, &ready);
      if (dir == 1) { s->back_idle = whole && ready; return; }
      if (!(whole && s->back_idle)) { s->back_idle = 0; return; }
      /* The server was idle and this is the start of the client's next messages. */
      INC(resynced);
      set_unsynced(t, s, 0);
      s->state = T_FOLLOW;
      s->unmatched_seen = s->pg.unmatched;
    }
    /* fall through */
    case T_FOLLOW:
      if (pg_session_feed(&s->pg, dir, p, n)) { resync(t, s, 1); return; }
      if (s->pg.unmatched != s->unmatched_seen) { INC(mismatches); s->unmatched_seen = s->pg.unmatched; resync(t, s, 0); }
      return;
    default:
      return;
  }
}

/** The server closed its side: an HTTP response delimited by the close is complete. */
static void on_fin(tap *t, tsess *s, int dir, uint64_t ts) {
  if (t->http && dir == 1 && s->state == T_FOLLOW) http_session_fin(&s->http, ts);
}

/** Delivers the early segments the stream has now reached (trimming what was already delivered). */
static void drain_early(tap *t, tsess *s, int dir) {
  flow *f = &s->dir[dir];
  while (f->ooo && !seq_lt(f->next, f->ooo->seq)) {
    seg *g = f->ooo;
    f->ooo = g->next;
    f->ooo_bytes -= g->len;
    uint32_t skip = f->next - g->seq;
    if (skip < g->len) { deliver(t, s, dir, g->data + skip, g->len - skip, g->ts); f->next = g->seq + g->len; }
    if (g->fin) { f->next++; f->fin_done = 1; on_fin(t, s, dir, g->ts); }
    free(g);
  }
}

/** The hole before what `f` holds (or up to `upto`) will never be filled: count it and move on. */
static void skip_hole(tap *t, tsess *s, int dir, uint32_t upto) {
  flow *f = &s->dir[dir];
  INC(gaps);
  if (s->state == T_FOLLOW || s->state == T_STARTUP || s->state == T_SSL_ANSWER) resync(t, s, 1);
  else if (s->state == T_RESYNC) s->back_idle = 0;
  f->next = f->ooo ? f->ooo->seq : upto;
  drain_early(t, s, dir);
}

static void buffer_early(tap *t, tsess *s, int dir, uint32_t seq, const uint8_t *p, size_t n, int fin, uint64_t ts) {
  flow *f = &s->dir[dir];
  seg *g = malloc(sizeof *g + n);
  if (!g) return;
  g->seq = seq; g->len = n; g->fin = fin; g->ts = ts;
  memcpy(g->data, p, n);
  seg **at = &f->ooo;
  while (*at && seq_lt((*at)->seq, seq)) at = &(*at)->next;
  g->next = *at;
  *at = g;
  f->ooo_bytes += n;
  if (f->ooo_bytes > OOO_LIMIT) skip_hole(t, s, dir, seq);
}

/** One TCP segment of a session in direction `dir`. */
static void segment(tap *t, tsess *s, int dir, uint32_t seq, uint32_t ack, uint8_t flags,
                    const uint8_t *p, size_t n, uint64_t ts) {
  flow *f = &s->dir[dir];
  int fin = flags & 0x01, syn = flags & 0x02, has_ack = flags & 0x10;
  if (syn) { flow_clear(f); f->started = 1; f->next = seq + 1; seq++; }
  /* A bare ACK starts nothing: a keep-alive probe carries the sequence number one below the next byte. */
  if (!f->started && (n || fin)) { f->started = 1; f->next = seq; }
  int32_t d = f->started ? (int32_t)(seq - f->next) : -1;
  if (d < 0) { /* retransmitted, or overlapping what was delivered */
    uint32_t old = (uint32_t)-(int64_t)d;
    if (old > n || (old == n && (!fin || f->fin_done))) { n = 0; fin = 0; }
    else { p += old; n -= old; seq = f->next; d = 0; }
  }
  if (d < 0) { /* nothing new */ }
  else if (d > 0) { if (n || fin) buffer_early(t, s, dir, seq, p, n, fin, ts); }
  else if (n || fin) {
    if (n) deliver(t, s, dir, p, n, ts);
    f->next = seq + n;
    if (fin) { f->next++; f->fin_done = 1; on_fin(t, s, dir, ts); }
    drain_early(t, s, dir);
  }
  /* The peer acknowledged bytes of the other direction that were never captured: a hole for good. */
  flow *o = &s->dir[!dir];
  if (has_ack && o->started && seq_lt(o->next, ack) && !(o->fin_done)) skip_hole(t, s, !dir, ack);
}

/* ---------- packets ---------- */

/**
 * One captured packet. A `stale` one was captured before the current window opened (its block
 * retired late): the sessions were paused since, so only a new session's StartupMessage is taken.
 */
static void packet(tap *t, const uint8_t *p, size_t caplen, size_t wirelen, uint64_t ts, int stale) {
  INC(packets);
  if (caplen < wirelen) { INC(truncated); return; } /* its bytes count as missing: the ACK check finds the hole */
  key k;
  memset(&k, 0, sizeof k);
  const uint8_t *tcp;
  size_t len;
  const uint8_t *src, *dst;
  if (caplen >= 20 && (p[0] >> 4) == 4) {
    size_t ihl = (p[0] & 15) * 4u, total = ((size_t)p[2] << 8) | p[3];
    if (ihl < 20 || total > caplen || total < ihl + 20 || p[9] != 6) return;
    tcp = p + ihl; len = total - ihl; src = p + 12; dst = p + 16;
  } else if (caplen >= 60 && (p[0] >> 4) == 6) {
    size_t total = 40 + (((size_t)p[4] << 8) | p[5]);
    if (total > caplen || p[6] != 6) return;
    tcp = p + 40; len = total - 40; src = p + 8; dst = p + 24;
    k.v6 = 1;
  } else return;
  size_t alen = k.v6 ? 16 : 4;
  uint16_t sport = (tcp[0] << 8) | tcp[1], dport = (tcp[2] << 8) | tcp[3];
  size_t doff = (tcp[12] >> 4) * 4u;
  if (doff < 20 || doff > len) return;
  uint32_t seq = be32(tcp + 4), ack = be32(tcp + 8);
  uint8_t flags = tcp[13];
  int dir = dport == t->port ? 0 : 1;
  if (dir == 1 && sport != t->port) return;
  if (stale && !(dir == 0 && !t->http && whole_startup(tcp + doff, len - doff))) return;
  memcpy(k.client, dir == 0 ? src : dst, alen);
  memcpy(k.server, dir == 0 ? dst : src, alen);
  k.cport = dir == 0 ? sport : dport;

  tsess *s = sess_find(t, &k);
  int syn_only = (flags & 0x12) == 0x02;
  if (s && syn_only && dir == 0) { sess_free(t, s); s = NULL; } /* the port was reused for a new connection */
  if (!s) {
    if (flags & 0x04) return; /* a reset of something never followed */
    s = sess_new(t, &k);
    if (!s) return;
    s->last_ns = ts; /* also when stale: the idle sweep must not take a session just named by its StartupMessage */
    if (syn_only && dir == 0) s->state = T_STARTUP;
    else { INC(midstream); resync(t, s, 1); }
  }
  if (stale) {
    if (s->state == T_RESYNC) { free(s->pg.user); s->pg.user = startup_user(tcp + doff, len - doff); }
    return;
  }
  if (s->paused) { s->paused = 0; set_unsynced(t, s, 1); }
  s->last_ns = ts;
  if (flags & 0x04) { sess_free(t, s); return; }
  if (t->w.windowed) t->env.window_closed = !(ts >= t->w.gate_from && ts < t->w.gate_to);
  segment(t, s, dir, seq, ack, flags, tcp + doff, len - doff, ts);
  if (s->dir[0].fin_done && s->dir[1].fin_done) sess_free(t, s);
}

static void read_stats(tap *t) {
  struct tpacket_stats_v3 st;
  socklen_t len = sizeof st;
  if (getsockopt(t->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
    atomic_fetch_add(&t->kernel_packets, st.tp_packets);
    atomic_fetch_add(&t->kernel_drops, st.tp_drops);
  }
}

static void sweep(tap *t, uint64_t now) {
  for (tsess *s = t->all, *next; s; s = next) {
    next = s->next;
    if (now - s->last_ns > IDLE_NS) sess_free(t, s);
  }
}

/* ---------- kernel filters (classic BPF) ---------- */

/*
 * IPv4 (unfragmented) or IPv6 (no extension header) TCP: X = where the TCP header starts. Anything
 * else jumps to `drop` instructions past its last.
 */
#define BPF_TCP_HEADER(drop) \
  BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL), \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 6), \
  BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9), \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, (drop) + 8), \
  BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6), \
  BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, (drop) + 6, 0), \
  BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0), \
  BPF_STMT(BPF_JMP | BPF_JA, 4), \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, (drop) + 3), \
  BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6), \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, (drop) + 1), \
  BPF_STMT(BPF_LDX | BPF_W | BPF_IMM, 40)
#define BPF_ACCEPT BPF_STMT(BPF_RET | BPF_K, 0x40000)
#define BPF_DROP BPF_STMT(BPF_RET | BPF_K, 0)

static int set_filter(int fd, struct sock_filter *code, unsigned short len) {
  struct sock_fprog prog = { len, code };
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

/**
 * The capture's filter: IPv4 (unfragmented) or IPv6 (no extension header) TCP with `port` at either
 * end. On a loopback device each packet passes twice (leaving and arriving): the leaving copy is
 * refused here (where PACKET_IGNORE_OUTGOING is not there to spare it).
 */
static int attach_filter(int fd, uint16_t port, int loopback) {
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 17, 0),
    BPF_TCP_HEADER(5),
    /* the port at either end */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 2, 0),
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
    BPF_ACCEPT,
    BPF_DROP,
  };
  int skip = loopback ? 0 : 2;
  return set_filter(fd, code + skip, sizeof code / sizeof code[0] - skip);
}

/**
 * The filter between windows. HTTP: nothing passes. PostgreSQL: only client segments to the port
 * whose payload's second word is protocol 3.0 (a StartupMessage, one per connection), so sessions
 * that begin while the capture is off still have their user when a window follows them.
 */
static int attach_off(int fd, uint16_t port, int http) {
  struct sock_filter code[] = {
    BPF_TCP_HEADER(10),
    /* to the port, with protocol 3.0 as the payload's second word */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 8),
    BPF_STMT(BPF_LD | BPF_B | BPF_IND, 12),
    BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 2),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x3c),
    BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
    BPF_STMT(BPF_MISC | BPF_TAX, 0),
    BPF_STMT(BPF_LD | BPF_W | BPF_IND, 4), /* the payload's second word */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROTOCOL_3, 0, 1),
    BPF_ACCEPT,
    BPF_DROP,
  };
  size_t n = sizeof code / sizeof code[0];
  return http ? set_filter(fd, code + n - 1, 1) : set_filter(fd, code, n);
}

/* ---------- capture windows ---------- */

static uint64_t real_ns(void) { struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec; }

/** The share of time the gates should cover: the larger rate, or 1 (continuous) when windows would not pay. */
static double share_for(uint64_t window_ns, double sample, double mirror) {
  double f = mirror > sample ? mirror : sample;
  return !window_ns || f > MAX_WINDOW_SHARE ? 1 : f < 0 ? 0 : f;
}

static double wanted_share(tap *t) { return share_for(t->w.window_ns, atomic_load(&t->env.sample_rate), atomic_load(&t->env.mirror_rate)); }

/**
 * Bytes of every session went by uncaptured since the last window: each waits for a boundary again,
 * neither a gap nor a drop. Kept queries still open are cut (counted, not reported).
 */
static void pause_sessions(tap *t) {
  atomic_fetch_add(&t->window_cut, t->env.kept_open);
  for (tsess *s = t->all; s; s = s->next) {
    flow_clear(&s->dir[0]); flow_clear(&s->dir[1]);
    buf_free(&s->startup);
    if (s->state == T_TLS || s->state == T_IGNORE) continue;
    if (t->http) http_session_restart(&s->http);
    else { pg_session_restart(&s->pg, 1); s->pg.resumed = 1; }
    s->state = T_RESYNC;
    s->back_idle = 0;
    set_unsynced(t, s, 0);
    s->paused = 1;
  }
  t->env.kept_open = 0;
}

/** Plans the window of the period starting at `from`. */
static void plan_window(tap *t, uint64_t from) {
  schedule *w = &t->w;
  w->share = wanted_share(t);
  w->period_start = from;
  if (w->share <= 0) { w->on_at = UINT64_MAX; w->period_ns = 250 * MS; return; }
  w->period_ns = (uint64_t)(w->window_ns / w->share);
  w->open_at = from + (uint64_t)(erand48(w->rnd) * (double)(w->period_ns - w->window_ns));
  w->on_at = w->open_at - w->window_ns / 2;
}

static void capture_on(tap *t) {
  schedule *w = &t->w;
  w->paused_at = real_ns();
  pause_sessions(t);
  if (attach_filter(t->fd, t->port, t->loopback)) return; /* retried at the next step */
  uint64_t on = real_ns();
  w->capture_on = 1;
  w->gate_from = w->open_at > on ? w->open_at : on;
  w->gate_to = w->open_at + w->window_ns;
  if (w->gate_to < w->gate_from) w->gate_to = w->gate_from;
  w->covered_ns += w->gate_to - w->gate_from;
  t->env.window_share = w->share;
  t->env.window_actual = (double)(w->gate_to - w->gate_from) / (double)w->period_ns;
  INC(windows);
}

/** Moves the schedule on: opens or closes the capture, follows rate changes. */
static void window_step(tap *t, uint64_t now) {
  schedule *w = &t->w;
  double want = wanted_share(t);
  if (!w->windowed && want < 1) {
    /* From continuous to windows: the capture closes as a window's would, then the first period starts. */
    w->covered_ns += now - w->continuous_since;
    w->windowed = 1; w->capture_on = 1; w->gate_from = w->gate_to = now;
    w->period_start = now; w->period_ns = 0;
    t->env.window_closed = 1;
  } else if (w->windowed && want >= 1) {
    if (!w->capture_on) pause_sessions(t);
    if (w->capture_on || attach_filter(t->fd, t->port, t->loopback) == 0) {
      w->windowed = 0; w->capture_on = 1; w->continuous_since = now;
      t->env.window_closed = 0; t->env.window_share = t->env.window_actual = 1;
    }
  }
  if (w->windowed) {
    if (!w->capture_on && w->share != want) plan_window(t, now); /* the rates changed */
    if (!w->capture_on && now >= w->on_at) capture_on(t);
    else if (w->capture_on && now >= w->gate_to + DRAIN_MIN_NS && (t->env.kept_open == 0 || now >= w->gate_to + DRAIN_MAX_NS)
             && attach_off(t->fd, t->port, t->http) == 0) {
      w->capture_on = 0;
      uint64_t next = w->period_start + w->period_ns;
      plan_window(t, next + w->period_ns < now ? now : next);
    }
  }
  uint64_t covered = w->covered_ns + (w->windowed ? 0 : now - w->continuous_since);
  atomic_store(&t->capture_share, now > w->started ? (double)covered / (double)(now - w->started) : 1.0);
}

/** How long the capture thread may sleep before the schedule needs it, ms (at most 250). */
static int window_wait_ms(tap *t, uint64_t now) {
  schedule *w = &t->w;
  if (!w->windowed) return 250;
  uint64_t at = !w->capture_on ? w->on_at : now < w->gate_to + DRAIN_MIN_NS ? w->gate_to + DRAIN_MIN_NS : now + 10 * MS;
  if (at <= now) return 0;
  uint64_t ms = (at - now + MS - 1) / MS;
  return ms > 250 ? 250 : (int)ms;
}

static void *tap_main(void *arg) {
  tap *t = arg;
  pthread_setname_np(pthread_self(), "sp-tap");
  unsigned cur = 0;
  int stopping = 0;
  for (;;) {
    struct tpacket_block_desc *b = (struct tpacket_block_desc *)(t->ring + (size_t)cur * t->block_size);
    if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
      if (stopping) break;
      /* The ring is drained: every packet captured so far is followed before the schedule moves. */
      uint64_t now = real_ns();
      window_step(t, now);
      struct pollfd fds[2] = { { t->fd, POLLIN | POLLERR, 0 }, { t->wakefd, POLLIN, 0 } };
      poll(fds, 2, window_wait_ms(t, now));
      /* Stopping: the blocks the kernel has handed over are still read, then the loop ends. */
      if (fds[1].revents) stopping = 1;
      read_stats(t);
      continue;
    }
    struct tpacket3_hdr *h = (struct tpacket3_hdr *)((uint8_t *)b + b->hdr.bh1.offset_to_first_pkt);
    uint64_t last = 0;
    for (uint32_t i = 0; i < b->hdr.bh1.num_pkts; i++) {
      last = (uint64_t)h->tp_sec * 1000000000ull + h->tp_nsec;
      /* A block that retired only after the next window opened (its timeout is 10 ms, a window can
         follow sooner) holds the previous window's tail: those sessions were paused, not gapped. */
      packet(t, (uint8_t *)h + h->tp_mac, h->tp_snaplen, h->tp_len, last, t->w.windowed && last < t->w.paused_at);
      h = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
    }
    __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    cur = (cur + 1) % t->block_nr;
    if (last && last - t->last_stats > STATS_EVERY_NS) { t->last_stats = last; read_stats(t); }
    if (last && last - t->last_sweep > 10ull * 1000000000ull) { t->last_sweep = last; sweep(t, last); }
  }
  read_stats(t);
  while (t->all) sess_free(t, t->all);
  return NULL;
}

/* ---------- JavaScript interface ---------- */

static void throw_errno(napi_env env, int e, const char *what) {
  char message[320];
  if (e == EPERM || e == EACCES)
    snprintf(message, sizeof message, "%s: %s — capturing packets needs CAP_NET_RAW (run as root, or grant it: "
             "setcap cap_net_raw+ep \"$(command -v node)\"); pg-proxy needs no capability", what, strerror(e));
  else snprintf(message, sizeof message, "%s: %s", what, strerror(e));
  napi_throw_error(env, strerrorname_np(e) ? strerrorname_np(e) : "EIO", message);
}

static void tap_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  tap *t = data;
  pg_env_destroy(&t->env);
  free(t);
}

/**
 * start({ interface, port, protocol: 'pg' | 'http', sampleRate, mirrorRate, ringBytes, blockBytes,
 *   idHeader, captureBytes }, onQueries) -> { handle }. In HTTP mode each record is an exchange
 * (see http_track.h); idHeader names the request-id header, captureBytes bounds kept bodies.
 * Throws with `code` EPERM (message naming CAP_NET_RAW), ENODEV (no such interface) or EINVAL.
 */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "start(options, onQueries)");
    return NULL;
  }
  char ifname[IF_NAMESIZE + 1];
  get_string(env, args[0], "interface", ifname, sizeof ifname);
  int port = (int)get_number(env, args[0], "port");
  size_t block = (size_t)get_number(env, args[0], "blockBytes");
  size_t ring = (size_t)get_number(env, args[0], "ringBytes");
  long page = sysconf(_SC_PAGESIZE);
  if (port < 1 || port > 65535 || block < (size_t)page || block % page || ring < 2 * block) {
    napi_throw_error(env, "EINVAL", "port must be 1-65535, blockBytes a multiple of the page size, ringBytes at least two blocks");
    return NULL;
  }
  unsigned ifindex = if_nametoindex(ifname);
  if (!ifindex) { throw_errno(env, ENODEV, ifname); return NULL; }

  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { throw_errno(env, errno, "socket(AF_PACKET)"); return NULL; }
  int version = TPACKET_V3;
  struct tpacket_req3 req = {
    .tp_block_size = block, .tp_block_nr = ring / block, .tp_frame_size = 2048,
    .tp_frame_nr = (block / 2048) * (ring / block), .tp_retire_blk_tov = 10,
  };
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex };
  const char *step = NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, strlen(ifname));
  int loopback = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_LOOPBACK);
  /* On a loopback device every packet also arrives: the leaving copy is not even cloned for us. */
  int one = 1;
  if (loopback) setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  double sample = get_number(env, args[0], "sampleRate"), mirror = get_number(env, args[0], "mirrorRate");
  uint64_t window_ns = (uint64_t)(get_number(env, args[0], "windowMs") * MS);
  int windowed = share_for(window_ns, sample, mirror) < 1;
  char protocol[8];
  get_string(env, args[0], "protocol", protocol, sizeof protocol);
  int http = strcmp(protocol, "http") == 0;
  if (windowed ? attach_off(fd, port, http) : attach_filter(fd, port, loopback)) step = "SO_ATTACH_FILTER";
  else if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version)) step = "PACKET_VERSION";
  else if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req)) step = "PACKET_RX_RING";
  void *map = MAP_FAILED;
  if (!step) {
    map = mmap(NULL, (size_t)req.tp_block_size * req.tp_block_nr, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    if (map == MAP_FAILED) map = mmap(NULL, (size_t)req.tp_block_size * req.tp_block_nr, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) step = "mmap";
    else if (bind(fd, (struct sockaddr *)&sll, sizeof sll)) step = "bind";
  }
  if (step) {
    int e = errno;
    if (map != MAP_FAILED) munmap(map, (size_t)req.tp_block_size * req.tp_block_nr);
    close(fd);
    throw_errno(env, e, step);
    return NULL;
  }
  tap *t = calloc(1, sizeof *t);
  if (!t) { close(fd); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  t->fd = fd;
  t->http = http;
  t->port = port;
  t->loopback = loopback;
  t->w.window_ns = window_ns;
  t->w.started = t->w.continuous_since = real_ns();
  if (getrandom(t->w.rnd, sizeof t->w.rnd, 0) != sizeof t->w.rnd) t->w.rnd[0] = (unsigned short)t->w.started;
  t->ring = map;
  t->block_size = req.tp_block_size;
  t->block_nr = req.tp_block_nr;
  t->ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
  t->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

  get_string(env, args[0], "idHeader", t->conf.id_header, sizeof t->conf.id_header);
  for (char *c = t->conf.id_header; *c; c++) if (*c >= 'A' && *c <= 'Z') *c += 32;
  t->conf.capture_bytes = (size_t)get_number(env, args[0], "captureBytes");
  pg_env_init(&t->env, sample, mirror);
  t->env.report_rate = 1;
  if (windowed) {
    t->w.windowed = 1;
    t->env.window_closed = 1;
    plan_window(t, t->w.started);
  } else t->w.capture_on = 1;
  if (pg_env_deliver_to(&t->env, env, args[1], "pg-tap", tap_finalize, t) != napi_ok
      || pthread_create(&t->thread, NULL, tap_main, t) != 0) {
    munmap(t->ring, t->ring_len); close(t->fd); close(t->wakefd);
    napi_throw_error(env, NULL, "could not start the capture thread");
    return NULL;
  }
  return handle_result(env, t);
}

/** setRates(handle, sampleRate, mirrorRate): applies to queries opened from now on. */
static napi_value set_rates(napi_env env, napi_callback_info info) {
  napi_value args[3];
  tap *t = unwrap_handle(env, info, 3, args, "a tap handle");
  return t ? pg_env_set_rates_js(env, &t->env, args) : NULL;
}

static napi_value counters(napi_env env, tap *t) {
  napi_value o;
  napi_create_object(env, &o);
  pg_env_counters(env, &t->env, o);
#define C(name, field) set_number(env, o, name, (double)atomic_load(&t->field))
  C("packets", packets); C("kernelPackets", kernel_packets); C("kernelDrops", kernel_drops);
  C("truncated", truncated); C("sessions", sessions); C("active", active); C("midstream", midstream);
  C("unsynced", unsynced); C("resynced", resynced); C("gaps", gaps); C("tlsSkipped", tls_skipped);
  C("cancels", cancels); C("mismatches", mismatches); C("unknownStatement", unknown_statement);
  C("sessionsOverflow", overflow); C("notPostgres", not_postgres); C("windows", windows); C("windowCut", window_cut);
  C("captureShare", capture_share);
#undef C
  return o;
}

/** stats(handle) -> the tap's counters (kernel figures as of its last read, at most 250 ms old). */
static napi_value stats(napi_env env, napi_callback_info info) {
  napi_value args[1];
  tap *t = unwrap_handle(env, info, 1, args, "a tap handle");
  return t ? counters(env, t) : NULL;
}

/** stop(handle) -> { stats, queries }: stops capturing; the handle is invalid afterwards. */
static napi_value stop(napi_env env, napi_callback_info info) {
  napi_value args[1];
  tap *t = unwrap_handle(env, info, 1, args, "a tap handle");
  if (!t) return NULL;
  uint64_t one = 1;
  if (write(t->wakefd, &one, sizeof one) < 0) { /* the thread also wakes within 250 ms */ }
  pthread_join(t->thread, NULL);
  munmap(t->ring, t->ring_len);
  close(t->fd); close(t->wakefd);
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "stats", counters(env, t));
  napi_set_named_property(env, result, "queries", pg_env_take_js(env, &t->env));
  napi_release_threadsafe_function(t->env.tsfn, napi_tsfn_release);
  return result;
}

static napi_value init(napi_env env, napi_value exports) { return define_addon(env, exports, start, set_rates, stats, stop); }

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
