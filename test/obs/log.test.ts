import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanLine, RepeatWarning, type Logger } from '../../src/obs/log.js';

test('a JSON log record reads as one line: time, level, module, message, then its own fields', () => {
  const at = Date.UTC(2026, 0, 5, 12, 3, 4);
  const line = humanLine(JSON.stringify({ level: 40, time: at, service: 'shadowplane', module: 'proxy', listen: '127.0.0.1:8080', routes: ['a'], why: 'two words', msg: 'proxy listening' }));
  assert.equal(line, '12:03:04 WARN  proxy: proxy listening listen=127.0.0.1:8080 routes=["a"] why="two words"\n');
  assert.equal(humanLine('not json\n'), 'not json\n');
});

test('a repeating warning is logged once, then once per interval with the count left out', () => {
  const lines: [Record<string, unknown>, string][] = [];
  const log = { warn: (fields: Record<string, unknown>, msg: string) => lines.push([fields, msg]) } as unknown as Logger;
  let now = 0;
  const w = new RepeatWarning(log, 60_000, () => now);
  // the same refusal with another count each second is one repeating warning
  for (let s = 0; s < 61; s++, now += 1000) w.warn(`all ${s % 7 + 1} items were rejected (unknown_target)`, { s }, 'events not delivered');
  w.warn('connect ECONNREFUSED', { s: 'refused' }, 'events not delivered'); // another reason is its own line
  assert.deepEqual(lines.map(([f]) => f), [{ s: 0 }, { s: 60, repeatsNotLogged: 59 }, { s: 'refused' }]);
});
