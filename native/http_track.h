/*
 * Following one HTTP/1.1 connection from its bytes (the tap's HTTP mode): request and response
 * framing (Content-Length, chunked, bodies delimited by the close, HEAD, 1xx, 204, 304), pipelined
 * requests paired with their responses in order, the keepSample verdict on the request id (the
 * configured header, else `<connection prefix><sequence>`), and a record per kept exchange.
 */
#ifndef SHADOWPLANE_HTTP_TRACK_H
#define SHADOWPLANE_HTTP_TRACK_H

#include "pg_track.h"

/** How a message body is delimited, and where its parser stands. */
typedef struct body_state {
  int mode; /* B_NONE, B_LENGTH, B_CHUNKED, B_CLOSE */
  uint64_t left;
  int chunk; /* CS_SIZE, CS_DATA, CS_DATA_END, CS_TRAILER */
  char line[40]; int line_len;
  uint64_t bytes; /* body bytes so far (de-chunked) */
} body_state;

typedef struct hunit {
  uint64_t seq;
  int kept, sampled, mirror, head_method, oversized;
  double rate, share;
  char id[136];
  double at_ms; uint64_t t0;
  char *head;
  buf_t body;
  uint64_t body_bytes;
} hunit;

/** Settings shared by the HTTP sessions of one tap. */
typedef struct http_conf {
  char id_header[64]; /* lower case */
  size_t capture_bytes; /* request and response bodies kept up to this size (mirrored exchanges only) */
} http_conf;

typedef struct http_session {
  pg_env *env;
  const http_conf *conf;
  char prefix[16];
  uint64_t seq;
  /* requests */
  int rq_in_body; buf_t rq_head; body_state rq_body;
  hunit *units; size_t u_head, u_count, u_cap;
  /* responses */
  int rs_in_body, rs_status; buf_t rs_head; body_state rs_body; buf_t rs_keep; int rs_over;
  char *rs_head_text;
  int broken, upgraded;
} http_session;

void http_session_init(http_session *h, pg_env *e, const http_conf *conf);
void http_session_free(http_session *h);
/** Forgets open exchanges and restarts both directions at a message boundary. */
void http_session_restart(http_session *h);
/** Bytes of one direction at capture time `ts_ns`; returns 1 once the framing is lost or the connection upgraded. */
int http_session_feed(http_session *h, int from_server, const uint8_t *p, size_t n, uint64_t ts_ns);
/** The server closed its side: a response delimited by the close is complete. */
void http_session_fin(http_session *h, uint64_t ts_ns);
/** Whether `p` is one or more whole responses from its first byte to its last (a provable boundary). */
int http_whole_responses(const uint8_t *p, size_t n);
/** Whether `p` starts with a request line (`METHOD SP target SP HTTP/1.x CRLF`). */
int http_request_start(const uint8_t *p, size_t n);

#endif
