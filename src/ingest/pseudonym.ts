/**
 * Pseudonymous user ids: a keyed HMAC replaces every user id before anything is stored or logged.
 * The same user always maps to the same pseudonym under one key, so per-user rollups still work,
 * while the clear id cannot be recovered without the key.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Pseudonyms remembered, so repeat users cost a map lookup instead of an HMAC. */
const CACHE_LIMIT = 100_000;

/** Replaces user ids with `u_` + 22 characters of base64url HMAC-SHA256. */
export class Pseudonymizer {
  private readonly cache = new Map<string, string>();

  constructor(private readonly key: string) {}

  /** The pseudonym of `user`. */
  pseudonym(user: string): string {
    let p = this.cache.get(user);
    if (p === undefined) {
      p = 'u_' + createHmac('sha256', this.key).update(user).digest('base64url').slice(0, 22);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(user, p);
    }
    return p;
  }
}

/**
 * The key in force: the configured one, else the key file in `dataDir` (created with 32 random
 * bytes and mode 0600 on first start).
 */
export function resolvePseudonymKey(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const path = join(dataDir, 'pseudonym.key');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString('hex');
  writeFileSync(path, key + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return key;
}
