/** Config validation as the tests read it. */
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config.js';
import { ShadowplaneError } from '../../src/core/errors.js';

/** The problems validateConfig finds in `raw`, message by path ({} when it is valid); any other failure fails the test. */
export function configProblems(raw: unknown): Record<string, string> {
  try {
    validateConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ShadowplaneError);
    assert.equal(err.code, 'SHADOWPLANE_ERR_CONFIG_INVALID');
    return Object.fromEntries(err.problems.map((p) => [p.path, p.message]));
  }
  return {};
}
