/** `shadowplane pg-proxy` flags: bad values are refused with the field and the rule. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidArgumentError } from 'commander';
import { hostPort } from '../../../src/cli/common.js';
import { cli } from '../../helpers/cli.js';
import { postgresUrl, readTlsFiles } from '../../../src/cli/pg-proxy.js';

const exec = promisify(execFile);

test('HOST:PORT and postgres:// URLs are parsed, bad ones refused with the rule', () => {
  assert.deepEqual(hostPort('127.0.0.1:6432'), { host: '127.0.0.1', port: 6432 });
  assert.deepEqual(hostPort('[::1]:0'), { host: '::1', port: 0 });
  for (const bad of ['6432', 'localhost:', 'h:70000']) assert.throws(() => hostPort(bad), InvalidArgumentError);
  assert.deepEqual(postgresUrl('postgres://app@db.local/orders'), { url: 'postgres://app@db.local/orders', host: 'db.local', port: 5432, database: 'orders' });
  assert.equal(postgresUrl('postgresql://u@127.0.0.1:5433').database, 'postgres');
  assert.throws(() => postgresUrl('mysql://u@h/db'), /postgres:\/\//);
  assert.throws(() => postgresUrl('not a url'), /must be a URL/);
});

test('--tls-cert and --tls-key go together, and an unreadable file names its flag', async () => {
  assert.equal(await readTlsFiles(undefined, undefined), undefined);
  await assert.rejects(readTlsFiles('cert.pem', undefined), /--tls-cert and --tls-key go together/);
  await assert.rejects(readTlsFiles('/nonexistent/cert.pem', '/nonexistent/key.pem'), /--tls-cert \/nonexistent\/cert.pem: .*ENOENT/);
});

test('the command exits with a clear message on a bad flag', async () => {
  const common = [...cli('pg-proxy'), '--listen', '127.0.0.1:1', '--upstream', 'postgres://u@h/db'];
  await assert.rejects(exec(process.execPath, [...common, '--sample-rate', '2']), (e: { code?: number; stderr?: string }) => e.code !== 0 && /sample-rate.*between 0 and 1/.test(e.stderr ?? ''));
  await assert.rejects(exec(process.execPath, [...common, '--engine', 'rust']), (e: { code?: number; stderr?: string }) => e.code !== 0 && /--engine.*must be one of native, js, auto/.test(e.stderr ?? ''));
});
