/**
 * The error catalogue: every error Shadowplane raises on purpose has a stable code listed here,
 * an HTTP status for the API, and an entry in docs/errors.md (a test checks the two agree).
 * Expected outcomes (not ready, rate-limited, stabilized) are values with reason codes, not errors.
 */

/** One catalogue entry: the HTTP status the API maps the error to and a one-line meaning. */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
}

/** Every coded error. Add a code here and a section in docs/errors.md together. */
export const ERROR_CATALOGUE = {
  SHADOWPLANE_ERR_CONFIG_INVALID: { status: 400, title: 'The configuration does not match its schema' },
  SHADOWPLANE_ERR_CONFIG_UNREADABLE: { status: 400, title: 'The configuration file cannot be read or parsed' },
  SHADOWPLANE_ERR_VALIDATION: { status: 400, title: 'A request or input item does not match its schema' },
  SHADOWPLANE_ERR_TARGET_NOT_FOUND: { status: 404, title: 'No target has that name' },
  SHADOWPLANE_ERR_TARGET_EXISTS: { status: 409, title: 'A target with that name exists already' },
  SHADOWPLANE_ERR_UNAUTHORIZED: { status: 401, title: 'A mutating request lacks the bearer token' },
  SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body exceeds the configured limit' },
  SHADOWPLANE_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests or events; retry after the given delay' },
  SHADOWPLANE_ERR_STORE_UNAVAILABLE: { status: 503, title: 'The Shadow Store backend cannot be reached' },
  SHADOWPLANE_ERR_STORE_LOCKED: { status: 409, title: 'Another instance holds the data directory' },
  SHADOWPLANE_ERR_STANDBY: { status: 503, title: 'This instance is a standby: another one holds the store\'s lease' },
  SHADOWPLANE_ERR_STORE_REJECTED: { status: 500, title: 'The Shadow Store refused a row as invalid; the row is quarantined and the rest written' },
  SHADOWPLANE_ERR_INSECURE_BIND: { status: 500, title: 'Listening beyond loopback without an API token' },
  SHADOWPLANE_ERR_INPUT_FILE: { status: 400, title: 'An input file has a bad line' },
  SHADOWPLANE_ERR_OUTPUT_FILE: { status: 400, title: 'An output file cannot be written' },
  SHADOWPLANE_ERR_API_UNREACHABLE: { status: 502, title: 'A command cannot reach the Shadowplane service\'s API' },
  SHADOWPLANE_ERR_NOT_FOUND: { status: 404, title: 'No such resource' },
  SHADOWPLANE_ERR_EXEC_TRANSITION: { status: 409, title: 'An executor task was asked to make a state change its table does not allow' },
  SHADOWPLANE_ERR_SERIES_TOO_SHORT: { status: 422, title: 'A series has too few points to forecast' },
  SHADOWPLANE_ERR_MIGRATION_STATE: { status: 409, title: 'The migration is not in a state that allows this command' },
  SHADOWPLANE_ERR_LISTEN: { status: 500, title: 'The service cannot listen on its address (the port is in use, or not allowed)' },
  SHADOWPLANE_ERR_PROXY_LISTEN: { status: 500, title: 'The proxy cannot listen on its data or admin address' },
  SHADOWPLANE_ERR_STREAM_OFFSET: { status: 409, title: 'A stream append does not continue the replica at its end offset' },
  SHADOWPLANE_ERR_STREAM_BACKEND: { status: 503, title: 'The stream storage backend cannot be reached or failed' },
  SHADOWPLANE_ERR_STREAM_STATE: { status: 409, title: 'The partition or worker is not in a state that allows this operator command' },
  SHADOWPLANE_ERR_DECISION_STATE: { status: 409, title: 'The decision is not waiting for approval' },
  SHADOWPLANE_ERR_NOT_CONTROLLED: { status: 409, title: 'The target is observed only: it has no actuator to act through' },
  SHADOWPLANE_ERR_ACTUATOR_BUSY: { status: 409, title: 'A task of the target is in flight; its actuator cannot change until it ends' },
  SHADOWPLANE_ERR_TRIAGE_STATE: { status: 409, title: 'The anomaly event cannot move from its triage state to the one asked' },
  SHADOWPLANE_ERR_SHADOW_NOT_FOUND: { status: 404, title: 'No shadow component has that name' },
  SHADOWPLANE_ERR_SHADOW_EXISTS: { status: 409, title: 'A shadow component with that name is registered already' },
  SHADOWPLANE_ERR_SHADOW_DECLARED: { status: 409, title: 'The shadow component is declared in the config file; change it there' },
  SHADOWPLANE_ERR_SHADOW_KIND: { status: 409, title: 'The shadow component is of another kind; this action does not apply to it' },
  SHADOWPLANE_ERR_SHADOW_UNREACHABLE: { status: 502, title: 'The shadow component\'s admin API cannot be reached or did not answer in time' },
  SHADOWPLANE_ERR_SHADOW_REFUSED: { status: 502, title: 'The shadow component refused the request (its token, or an answer the service cannot read)' },
  SHADOWPLANE_ERR_CAPACITY_NOT_CONFIGURED: { status: 409, title: 'The target has no capacity settings (source and shadow connection URLs)' },
  SHADOWPLANE_ERR_CAPACITY_RUN_BUSY: { status: 409, title: 'A capacity run of the target is running already' },
  SHADOWPLANE_ERR_BAD_REQUEST: { status: 400, title: 'The request is not valid HTTP' },
  SHADOWPLANE_ERR_REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  SHADOWPLANE_ERR_URL_TOO_LONG: { status: 414, title: 'A path parameter is too long' },
  SHADOWPLANE_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The request body has a content type the route does not take' },
  SHADOWPLANE_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'The request line and headers are too large' },
  SHADOWPLANE_ERR_INTERNAL: { status: 500, title: 'An unexpected internal error' },
} as const satisfies Record<string, ErrorSpec>;

/** A code from the catalogue. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** One problem with one field of an input: where it is (a JSON pointer or a line) and the rule broken. */
export interface FieldProblem {
  /** Where: a key path such as `/store/retention/1m`, an item index plus path, or `line 12`. */
  readonly path: string;
  /** The rule that was broken, in words: "must be a number between 0 and 1". */
  readonly message: string;
}

/** An error with a catalogue code and, for input errors, the list of field problems. */
export class ShadowplaneError extends Error {
  readonly code: ErrorCode;
  readonly problems: readonly FieldProblem[];

  constructor(code: ErrorCode, message: string, problems: readonly FieldProblem[] = []) {
    super(message);
    this.name = 'ShadowplaneError';
    this.code = code;
    this.problems = problems;
  }

  /** The HTTP status the API answers with. */
  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
}

/** True when `err` is a ShadowplaneError with the given code. */
export function isCoded(err: unknown, code: ErrorCode): err is ShadowplaneError {
  return err instanceof ShadowplaneError && err.code === code;
}
