import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanLine } from '../../src/obs/log.js';

test('a JSON log record reads as one line: time, level, module, message, then its own fields', () => {
  const at = Date.UTC(2026, 0, 5, 12, 3, 4);
  const line = humanLine(JSON.stringify({ level: 40, time: at, service: 'shadowplane', module: 'proxy', listen: '127.0.0.1:8080', routes: ['a'], why: 'two words', msg: 'proxy listening' }));
  assert.equal(line, '12:03:04 WARN  proxy: proxy listening listen=127.0.0.1:8080 routes=["a"] why="two words"\n');
  assert.equal(humanLine('not json\n'), 'not json\n');
});
