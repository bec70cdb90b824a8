/*
 * Following an HTTP/1.1 connection beside its bytes (see http_track.h). Heads are read whole (up
 * to 64 KiB; beyond that, or on a malformed chunk size, the framing is lost); bodies are skipped
 * by their framing and copied only for exchanges the mirror may replay.
 */
#define _GNU_SOURCE
#include "http_track.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

enum { B_NONE, B_LENGTH, B_CHUNKED, B_CLOSE };
enum { CS_SIZE, CS_DATA, CS_DATA_END, CS_TRAILER };
#define MAX_HEAD 65536

/* ---------- heads ---------- */

/** The value of header `name` (lower case) in a head of n bytes, trimmed; 0 when absent. */
static int header_value(const uint8_t *head, size_t n, const char *name, const uint8_t **v, size_t *vlen) {
  size_t name_len = strlen(name);
  const uint8_t *line = memchr(head, '\n', n);
  while (line && (size_t)(line + 1 - head) < n) {
    line++;
    size_t rest = n - (size_t)(line - head);
    const uint8_t *eol = memchr(line, '\n', rest);
    size_t len = eol ? (size_t)(eol - line) : rest;
    if (len > name_len && line[name_len] == ':' && strncasecmp((const char *)line, name, name_len) == 0) {
      const uint8_t *a = line + name_len + 1, *b = line + len;
      while (a < b && (*a == ' ' || *a == '\t')) a++;
      while (b > a && (b[-1] == '\r' || b[-1] == ' ' || b[-1] == '\t')) b--;
      *v = a;
      *vlen = (size_t)(b - a);
      return 1;
    }
    line = eol;
  }
  return 0;
}

/** Body framing from a head's headers (the caller handles HEAD, 1xx, 204 and 304). */
static void body_from_head(body_state *b, const uint8_t *head, size_t n, int is_response) {
  memset(b, 0, sizeof *b);
  const uint8_t *v;
  size_t vlen;
  if (header_value(head, n, "transfer-encoding", &v, &vlen) && memmem(v, vlen, "chunked", 7)) { b->mode = B_CHUNKED; return; }
  if (header_value(head, n, "content-length", &v, &vlen)) {
    uint64_t len = 0;
    for (size_t i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++) len = len * 10 + (v[i] - '0');
    b->mode = B_LENGTH;
    b->left = len;
    return;
  }
  b->mode = is_response ? B_CLOSE : B_NONE;
}

/**
 * Consumes body bytes; sets *done at its end and *bad on a malformed chunk size. Copies what it
 * reads into `keep` up to `limit` (beyond it sets *over and stops copying). Returns bytes used.
 */
static size_t body_feed(body_state *b, const uint8_t *p, size_t n, buf_t *keep, size_t limit, int *over, int *done, int *bad) {
  size_t off = 0;
  *done = b->mode == B_NONE || (b->mode == B_LENGTH && b->left == 0);
  while (off < n && !*done && !*bad) {
    size_t take = 0;
    if (b->mode == B_LENGTH || b->mode == B_CLOSE || (b->mode == B_CHUNKED && b->chunk == CS_DATA)) {
      take = b->mode == B_CLOSE ? n - off : (b->left < n - off ? b->left : n - off);
      if (keep && !*over) {
        if (buf_pending(keep) + take > limit) { *over = 1; keep->start = keep->end = 0; }
        else buf_append(keep, p + off, take);
      }
      b->bytes += take;
      off += take;
      if (b->mode != B_CLOSE) b->left -= take;
      if (b->mode == B_LENGTH && b->left == 0) *done = 1;
      if (b->mode == B_CHUNKED && b->left == 0) { b->chunk = CS_DATA_END; b->left = 2; }
      continue;
    }
    if (b->chunk == CS_DATA_END) {
      take = b->left < n - off ? b->left : n - off;
      off += take;
      b->left -= take;
      if (b->left == 0) b->chunk = CS_SIZE;
      continue;
    }
    /* CS_SIZE or CS_TRAILER: line by line */
    uint8_t c = p[off++];
    if (c == '\n') {
      if (b->chunk == CS_SIZE) {
        uint64_t size = 0;
        int digits = 0;
        for (int i = 0; i < b->line_len; i++) {
          char d = b->line[i];
          int x = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10 : d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
          if (x < 0) break;
          size = size * 16 + x;
          digits++;
        }
        if (!digits || digits > 15) { *bad = 1; break; }
        if (size == 0) b->chunk = CS_TRAILER; else { b->chunk = CS_DATA; b->left = size; }
      } else if (b->line_len == 0) *done = 1;
      b->line_len = 0;
    } else if (c != '\r') {
      if (b->line_len < (int)sizeof b->line - 1) b->line[b->line_len++] = c;
      else if (b->chunk == CS_SIZE) *bad = 1;
    }
  }
  return off;
}

/**
 * Collects a head: returns its length once "\r\n\r\n" is seen (*head points at it, in `p` when it
 * started there, else in `acc`), 0 when more is needed (all of `p` used), -1 when it is too long.
 * *used is how much of `p` the head took.
 */
static long head_feed(buf_t *acc, const uint8_t *p, size_t n, const uint8_t **head, size_t *used) {
  if (buf_pending(acc) == 0) {
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    if (end) { *head = p; *used = (size_t)(end + 4 - p); return (long)*used; }
  }
  size_t before = buf_pending(acc);
  if (buf_append(acc, p, n)) return -1;
  size_t from = before > 3 ? before - 3 : 0;
  const uint8_t *base = acc->data + acc->start;
  const uint8_t *end = memmem(base + from, buf_pending(acc) - from, "\r\n\r\n", 4);
  if (!end) { *used = n; return buf_pending(acc) > MAX_HEAD ? -1 : 0; }
  size_t len = (size_t)(end + 4 - base);
  acc->end = acc->start + len;
  *head = base;
  *used = len - before;
  return (long)len;
}

/* ---------- sessions ---------- */

void http_session_init(http_session *h, pg_env *e, const http_conf *conf) {
  memset(h, 0, sizeof *h);
  h->env = e;
  h->conf = conf;
  uint8_t rnd[6];
  if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) for (int i = 0; i < 6; i++) rnd[i] = (uint8_t)rand();
  snprintf(h->prefix, sizeof h->prefix, "%02x%02x%02x%02x-%02x%02x-", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

static void unit_free(hunit *u) { free(u->head); buf_free(&u->body); u->head = NULL; }

static hunit *units_push(http_session *h) {
  if (h->u_count == h->u_cap) {
    size_t cap = h->u_cap ? h->u_cap * 2 : 8;
    hunit *items = malloc(cap * sizeof *items);
    if (!items) return NULL;
    for (size_t i = 0; i < h->u_count; i++) items[i] = h->units[(h->u_head + i) % h->u_cap];
    free(h->units);
    h->units = items;
    h->u_cap = cap;
    h->u_head = 0;
  }
  hunit *u = &h->units[(h->u_head + h->u_count++) % h->u_cap];
  memset(u, 0, sizeof *u);
  return u;
}

static hunit *units_at(http_session *h, size_t i) { return i < h->u_count ? &h->units[(h->u_head + i) % h->u_cap] : NULL; }

static void units_clear(http_session *h) {
  while (h->u_count) {
    hunit *u = &h->units[h->u_head];
    if (u->kept) pg_env_kept_done(h->env);
    unit_free(u);
    h->u_head = (h->u_head + 1) % h->u_cap;
    h->u_count--;
  }
}

static void response_reset(http_session *h) {
  h->rs_in_body = 0;
  h->rs_head.start = h->rs_head.end = 0;
  h->rs_keep.start = h->rs_keep.end = 0;
  h->rs_over = 0;
  free(h->rs_head_text);
  h->rs_head_text = NULL;
}

void http_session_restart(http_session *h) {
  units_clear(h);
  response_reset(h);
  h->rq_in_body = 0;
  h->rq_head.start = h->rq_head.end = 0;
  h->broken = 0;
}

void http_session_free(http_session *h) {
  units_clear(h);
  free(h->units);
  response_reset(h);
  buf_free(&h->rq_head); buf_free(&h->rs_head); buf_free(&h->rs_keep);
  memset(h, 0, sizeof *h);
}

static void request_head(http_session *h, const uint8_t *head, size_t n, uint64_t ts) {
  pg_env *e = h->env;
  atomic_fetch_add_explicit(&e->queries, 1, memory_order_relaxed);
  h->seq++;
  hunit *u = units_push(h);
  if (!u) { h->broken = 1; return; }
  u->seq = h->seq;
  u->head_method = n > 5 && memcmp(head, "HEAD ", 5) == 0;
  const uint8_t *v;
  size_t vlen;
  if (header_value(head, n, h->conf->id_header, &v, &vlen) && vlen > 0 && vlen < sizeof u->id) {
    memcpy(u->id, v, vlen);
    u->id[vlen] = 0;
  } else snprintf(u->id, sizeof u->id, "%s%llu", h->prefix, (unsigned long long)h->seq);
  pg_env_verdict(e, u->id, strlen(u->id), &u->sampled, &u->mirror, &u->rate, &u->share);
  u->kept = u->sampled || u->mirror;
  if (u->kept) {
    u->head = dup_n(head, n);
    u->at_ms = ts / 1e6;
    u->t0 = ts;
  }
  body_from_head(&h->rq_body, head, n, 0);
  h->rq_in_body = 1;
}

static void complete(http_session *h, uint64_t ts) {
  hunit u = h->units[h->u_head];
  h->u_head = (h->u_head + 1) % h->u_cap;
  h->u_count--;
  if (!u.kept) { unit_free(&u); response_reset(h); return; }
  pg_env_kept_done(h->env);
  record *rec = calloc(1, sizeof *rec);
  if (!rec) { unit_free(&u); response_reset(h); return; }
  memcpy(rec->id, u.id, sizeof rec->id);
  rec->sql = u.head; u.head = NULL;
  if (u.mirror && !u.oversized) {
    rec->bind_len = buf_pending(&u.body);
    rec->bind = malloc(rec->bind_len ? rec->bind_len : 1);
    if (rec->bind && rec->bind_len) memcpy(rec->bind, u.body.data + u.body.start, rec->bind_len);
  }
  rec->body_oversized = u.oversized;
  rec->at_ms = u.at_ms;
  rec->latency_ms = (ts - u.t0) / 1e6;
  rec->bytes = u.body_bytes + h->rs_body.bytes;
  rec->status = h->rs_status;
  rec->sampled = u.sampled;
  rec->mirror = u.mirror;
  if (h->env->report_rate) { rec->sampling_rate = u.rate; rec->capture_share = u.share; }
  if (u.mirror) {
    rec->resp_head = h->rs_head_text; h->rs_head_text = NULL;
    if (!h->rs_over) {
      rec->has_resp_body = 1;
      rec->resp_body_len = buf_pending(&h->rs_keep);
      rec->resp_body = malloc(rec->resp_body_len ? rec->resp_body_len : 1);
      if (rec->resp_body && rec->resp_body_len) memcpy(rec->resp_body, h->rs_keep.data + h->rs_keep.start, rec->resp_body_len);
    }
  }
  unit_free(&u);
  response_reset(h);
  outbox_push(h->env, rec);
}

/** Returns 1 when the connection stops being HTTP/1.1 (101 Switching Protocols). */
static int response_head(http_session *h, const uint8_t *head, size_t n) {
  int status = 0;
  if (n >= 12 && memcmp(head, "HTTP/1.", 7) == 0) for (int i = 9; i < 12 && head[i] >= '0' && head[i] <= '9'; i++) status = status * 10 + (head[i] - '0');
  if (status < 100) { h->broken = 1; return 0; }
  if (status == 101) { h->upgraded = 1; return 1; }
  if (status < 200) return 0; /* interim (100 Continue): the final response follows */
  hunit *u = units_at(h, 0);
  if (!u) { h->broken = 1; return 0; }
  h->rs_status = status;
  if (u->head_method || status == 204 || status == 304) memset(&h->rs_body, 0, sizeof h->rs_body);
  else body_from_head(&h->rs_body, head, n, 1);
  if (u->mirror) h->rs_head_text = dup_n(head, n);
  h->rs_in_body = 1;
  return 0;
}

int http_session_feed(http_session *h, int from_server, const uint8_t *p, size_t n, uint64_t ts) {
  size_t off = 0;
  while (!h->broken && !h->upgraded) {
    int done = 0, bad = 0;
    if (!from_server) {
      if (h->rq_in_body) {
        hunit *u = units_at(h, h->u_count - 1);
        int over = u ? u->oversized : 1;
        off += body_feed(&h->rq_body, p + off, n - off, u && u->mirror ? &u->body : NULL, h->conf->capture_bytes, &over, &done, &bad);
        if (u) { u->oversized = over; u->body_bytes = h->rq_body.bytes; }
        if (bad) h->broken = 1;
        if (done) h->rq_in_body = 0;
        if (!done || off >= n) break;
        continue;
      }
      if (off >= n) break;
      const uint8_t *head;
      size_t used;
      long len = head_feed(&h->rq_head, p + off, n - off, &head, &used);
      off += used;
      if (len < 0) { h->broken = 1; break; }
      if (len == 0) break;
      request_head(h, head, (size_t)len, ts);
      h->rq_head.start = h->rq_head.end = 0;
    } else {
      if (h->rs_in_body) {
        off += body_feed(&h->rs_body, p + off, n - off, h->rs_head_text ? &h->rs_keep : NULL, h->conf->capture_bytes, &h->rs_over, &done, &bad);
        if (bad) h->broken = 1;
        if (done) complete(h, ts);
        if (!done || off >= n) break;
        continue;
      }
      if (off >= n) break;
      const uint8_t *head;
      size_t used;
      long len = head_feed(&h->rs_head, p + off, n - off, &head, &used);
      off += used;
      if (len < 0) { h->broken = 1; break; }
      if (len == 0) break;
      if (response_head(h, head, (size_t)len)) break;
      h->rs_head.start = h->rs_head.end = 0;
    }
  }
  return h->broken || h->upgraded;
}

void http_session_fin(http_session *h, uint64_t ts) {
  if (h->rs_in_body && h->rs_body.mode == B_CLOSE && h->u_count) complete(h, ts);
}

/* ---------- provable boundaries ---------- */

int http_whole_responses(const uint8_t *p, size_t n) {
  size_t off = 0;
  while (off < n) {
    if (n - off < 12 || memcmp(p + off, "HTTP/1.", 7) != 0) return 0;
    const uint8_t *end = memmem(p + off, n - off, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head_len = (size_t)(end + 4 - (p + off));
    int status = 0;
    for (int i = 9; i < 12 && p[off + i] >= '0' && p[off + i] <= '9'; i++) status = status * 10 + (p[off + i] - '0');
    body_state b;
    if (status < 200 || status == 204 || status == 304) memset(&b, 0, sizeof b);
    else body_from_head(&b, p + off, head_len, 1);
    if (b.mode == B_CLOSE) return 0;
    off += head_len;
    int over = 0, done = 0, bad = 0;
    off += body_feed(&b, p + off, n - off, NULL, 0, &over, &done, &bad);
    if (!done || bad) return 0;
  }
  return n > 0;
}

int http_request_start(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n && i < 16 && p[i] >= 'A' && p[i] <= 'Z') i++;
  if (i == 0 || i >= n || p[i] != ' ') return 0;
  const uint8_t *eol = memmem(p, n < 8192 ? n : 8192, "\r\n", 2);
  if (!eol || eol - p < 10) return 0;
  return memcmp(eol - 9, " HTTP/1.1", 9) == 0 || memcmp(eol - 9, " HTTP/1.0", 9) == 0;
}
