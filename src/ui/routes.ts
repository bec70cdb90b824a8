/**
 * The dashboard: static ES modules and CSS from src/ui/assets, and uPlot served straight from its
 * npm package, all under /ui/; `/` redirects there. No build step and no external network: every
 * file the browser loads comes from this service.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * The assets directory: beside this module when run from source (tsx), else src/ui/assets of the
 * package when run from dist/ (tsc does not copy non-TypeScript files). Throws when neither exists.
 */
export function assetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'assets'), join(here, '..', '..', '..', 'src', 'ui', 'assets')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`dashboard assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** uPlot's ESM build and stylesheet, read from node_modules/uplot/dist. Throws when uplot is not installed. */
function uplotFiles(): Record<string, string> {
  const dist = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  return { 'uplot.js': join(dist, 'uPlot.esm.js'), 'uplot.css': join(dist, 'uPlot.min.css') };
}

/**
 * GET /ui/ (index.html), /ui/<asset>, /ui/vendor/uplot.js|uplot.css, /favicon.ico (the SVG icon),
 * and redirects from / and /ui.
 * Only files present at registration are served (no path from the request reaches the file
 * system); files are read on each request so an edited asset shows on reload. A missing file is
 * the API's 404 problem.
 */
export function uiRoutes(app: FastifyInstance): void {
  const dir = assetsDir();
  const files = new Map<string, string>();
  for (const name of readdirSync(dir)) if (TYPES[extname(name)]) files.set(name, join(dir, name));
  for (const [name, path] of Object.entries(uplotFiles())) files.set(`vendor/${name}`, path);
  const hide = { schema: { hide: true } };

  const send = (name: string) => async (_req: unknown, reply: FastifyReply) =>
    reply.type(TYPES[extname(name)]).header('cache-control', 'no-cache').send(readFileSync(files.get(name)!));

  app.get('/', hide, async (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui', hide, async (_req, reply) => reply.redirect('/ui/'));
  // Browsers ask for /favicon.ico on their own (and tools that ignore the page's <link rel=icon>).
  app.get('/favicon.ico', hide, send('favicon.svg'));
  app.get('/ui/', hide, send('index.html'));
  for (const name of files.keys()) app.get(`/ui/${name}`, hide, send(name));
}
