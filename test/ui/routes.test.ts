/** The dashboard's routes without a browser: redirects, content types, uPlot from its package, no path escape. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { testService } from '../helpers/service.js';

let env: Awaited<ReturnType<typeof testService>>;
before(async () => (env = await testService()));
after(() => env.cleanup());
const get = (url: string) => env.service.api.inject({ method: 'GET', url });

test('/ and /ui redirect to /ui/, which is the dashboard page', async () => {
  for (const url of ['/', '/ui']) {
    const res = await get(url);
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, '/ui/');
  }
  const page = await get('/ui/');
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(page.body, /<script type="module" src="\/ui\/app.js">/);
});

test('scripts and styles are served with their types; uPlot is the installed package file', async () => {
  assert.match(String((await get('/ui/app.js')).headers['content-type']), /^text\/javascript/);
  assert.match(String((await get('/ui/style.css')).headers['content-type']), /^text\/css/);
  const uplot = await get('/ui/vendor/uplot.js');
  assert.equal(uplot.statusCode, 200);
  const file = createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js');
  assert.equal(uplot.body, readFileSync(file, 'utf8'));
});

test('the icon the page links to and the /favicon.ico browsers ask for are served, not 404', async () => {
  assert.match((await get('/ui/')).body, /<link rel="icon" href="\/ui\/favicon.svg"/);
  for (const url of ['/ui/favicon.svg', '/favicon.ico']) {
    const res = await get(url);
    assert.equal(res.statusCode, 200, url);
    assert.match(String(res.headers['content-type']), /^image\/svg\+xml/);
    assert.match(res.body, /^<svg /);
  }
});

test('unknown files and path tricks are the API 404 problem, never a file outside the assets', async () => {
  for (const url of ['/ui/nope.js', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/vendor/uPlot.cjs.js', '/ui/routes.ts']) {
    const res = await get(url);
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().code, 'SHADOWPLANE_ERR_NOT_FOUND', url);
  }
});

test('the dashboard is not in the OpenAPI document', async () => {
  const paths = Object.keys((await get('/openapi.json')).json().paths);
  assert.ok(!paths.some((p) => p.startsWith('/ui') || p === '/'), paths.join(' '));
});
