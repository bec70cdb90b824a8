/**
 * Configuration of the executor and the actuators: TypeBox schemas (so the root config and the API
 * can embed them), the resolved types with every default filled in, and the factory that turns a
 * validated actuator config into an Actuator. docs/actuators.md documents every key.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Clock } from '../core/clock.js';
import { ShadowplaneError } from '../core/errors.js';
import type { Actuator } from './actuator.js';
import { CommandActuator } from './command.js';
import { ReplayActuator, VirtualFleet } from './replay.js';
import { WebhookActuator } from './webhook.js';

const strict = { additionalProperties: false } as const;

/** Backoff between retries (see backoffDelay), with the given defaults for base and cap. */
function backoffSchema(baseMs: number, maxMs: number) {
  return Type.Object(
    {
      baseMs: Type.Integer({ minimum: 0, default: baseMs, description: 'Delay before the first retry, ms.' }),
      factor: Type.Number({ minimum: 1, default: 2, description: 'Growth of the delay per retry.' }),
      maxMs: Type.Integer({ minimum: 0, default: maxMs, description: 'Upper bound on one delay, ms.' }),
      jitter: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Random share of each delay, 0..1.' }),
    },
    { ...strict, default: {} },
  );
}

/** The webhook actuator. */
export const WebhookConfigSchema = Type.Object(
  {
    type: Type.Literal('webhook'),
    url: Type.String({ pattern: '^https?://', description: 'Where each action is POSTed as JSON.' }),
    timeoutMs: Type.Integer({ minimum: 1, default: 10_000, description: 'Per-request timeout, ms.' }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 2, description: 'Extra requests after a retryable failure.' }),
    backoff: backoffSchema(250, 5_000),
    token: Type.Optional(Type.String({ minLength: 1, description: 'Sent as `Authorization: Bearer <token>`.' })),
    headers: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra request headers.' }),
    rollback: Type.Boolean({ default: false, description: 'The receiver undoes an action when sent its inverse.' }),
  },
  strict,
);

/** The command actuator. */
export const CommandConfigSchema = Type.Object(
  {
    type: Type.Literal('command'),
    command: Type.String({ minLength: 1, description: 'Program to run (looked up on PATH).' }),
    args: Type.Array(Type.String(), { default: [], description: 'Arguments, passed as they are.' }),
    shell: Type.Boolean({ default: false, description: 'Run `command` through /bin/sh.' }),
    env: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra environment variables.' }),
    inheritEnv: Type.Boolean({ default: true, description: "Pass on Shadowplane's own environment." }),
    cwd: Type.Optional(Type.String({ minLength: 1, description: 'Working directory.' })),
    timeoutMs: Type.Integer({ minimum: 1, default: 30_000, description: 'Kill the process group after this, ms.' }),
    killGraceMs: Type.Integer({ minimum: 0, default: 2_000, description: 'SIGTERM to SIGKILL delay, ms.' }),
    rollback: Type.Boolean({ default: false, description: 'The command undoes an action when run with its inverse.' }),
  },
  strict,
);

/** The replay actuator (a virtual fleet). */
export const ReplayConfigSchema = Type.Object(
  {
    type: Type.Literal('replay'),
    provisioningDelayMs: Type.Integer({ minimum: 0, default: 300_000, description: 'Time until a new unit is ready, ms.' }),
  },
  strict,
);

/** The executor. */
export const ExecutorConfigSchema = Type.Object(
  {
    maxConcurrent: Type.Integer({ minimum: 1, default: 8, description: 'Active tasks across all targets.' }),
    maxPerTarget: Type.Integer({ minimum: 1, default: 1, description: 'Active tasks per target.' }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 3, description: 'Apply attempts per task.' }),
    backoff: backoffSchema(1_000, 30_000),
    applyTimeoutMs: Type.Integer({ minimum: 1, default: 120_000, description: 'Longest wait for one apply, ms.' }),
    verifyDeadlineMs: Type.Integer({ minimum: 0, default: 600_000, description: 'Time for the new capacity to appear, ms.' }),
    verifyIntervalMs: Type.Integer({ minimum: 1, default: 10_000, description: 'Time between observations, ms.' }),
  },
  { ...strict, default: {} },
);

export type WebhookConfig = Static<typeof WebhookConfigSchema>;
export type CommandConfig = Static<typeof CommandConfigSchema>;
export type ReplayConfig = Static<typeof ReplayConfigSchema>;
export type ActuatorConfig = WebhookConfig | CommandConfig | ReplayConfig;
export type ExecutorConfig = Static<typeof ExecutorConfigSchema>;

const ACTUATOR_SCHEMAS: Record<ActuatorConfig['type'], TSchema> = {
  webhook: WebhookConfigSchema,
  command: CommandConfigSchema,
  replay: ReplayConfigSchema,
};

/** Fills defaults into a copy of `raw` and checks it; `at` prefixes problem paths. */
function resolve<T>(schema: TSchema, raw: unknown, at: string, what: string): T {
  const value = Value.Default(schema, Value.Clone(raw ?? {}));
  if (Value.Check(schema, value)) return value as T;
  const problems = [...Value.Errors(schema, value)].map((e) => ({ path: `${at}${e.path}`, message: e.message }));
  throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', `invalid ${what} configuration at ${at || '/'}`, problems);
}

/**
 * Validates an actuator config and fills its defaults. `at` is where it sits in the larger config.
 * @throws ShadowplaneError SHADOWPLANE_ERR_CONFIG_INVALID naming each bad key and its rule.
 */
export function parseActuatorConfig(raw: unknown, at = ''): ActuatorConfig {
  const type = (raw as { type?: unknown } | null)?.type;
  const schema = typeof type === 'string' ? ACTUATOR_SCHEMAS[type as ActuatorConfig['type']] : undefined;
  if (!schema) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', `invalid actuator configuration at ${at || '/'}`, [
      { path: `${at}/type`, message: `must be one of ${Object.keys(ACTUATOR_SCHEMAS).join(', ')}, got ${JSON.stringify(type)}` },
    ]);
  }
  return resolve<ActuatorConfig>(schema, raw, at, 'actuator');
}

/**
 * Validates an executor config (all keys optional) and fills its defaults.
 * @throws ShadowplaneError SHADOWPLANE_ERR_CONFIG_INVALID naming each bad key and its rule.
 */
export function parseExecutorConfig(raw: unknown, at = ''): ExecutorConfig {
  return resolve<ExecutorConfig>(ExecutorConfigSchema, raw, at, 'executor');
}

/** What actuators may share: the clock and, for `replay`, a fleet owned by the caller (a sim world). */
export interface ActuatorDeps {
  readonly clock: Clock;
  readonly fleet?: VirtualFleet;
}

/** Builds the actuator a parsed config describes. A replay actuator gets `deps.fleet` or a new fleet. */
export function createActuator(config: ActuatorConfig, deps: ActuatorDeps): Actuator {
  switch (config.type) {
    case 'webhook':
      return new WebhookActuator(config, { clock: deps.clock });
    case 'command':
      return new CommandActuator(config, { clock: deps.clock });
    case 'replay':
      return new ReplayActuator(deps.fleet ?? new VirtualFleet(deps.clock, config.provisioningDelayMs));
  }
}
