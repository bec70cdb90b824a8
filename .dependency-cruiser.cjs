/**
 * The walls between the rooms of src/ (docs/architecture.md, "Rooms"), checked by
 * `npm run lint:deps`. Each room lists the rooms it may import (besides itself, Node's modules
 * and npm packages) and, apart, those it may import types from only (`import type`): a type
 * import costs nothing at run time, but it still says what the room knows of. A room is a folder
 * (`control/`) or a file (`config.ts`); paths are relative to src/.
 */

/** The rooms every room may build on. */
const BASE = ['model/', 'core/'];
/** The pure engines and policies, and the parts below them. */
const PURE = [...BASE, 'forecast/', 'detect/', 'plan/'];
/** The HTTP base every API shares (the service's and each component's admin API). */
const HTTP_BASE = ['api/app.ts', 'api/problem.ts'];
/** The shadow components' admin API schemas, which the service's adapters share with them. */
const CONTRACTS = ['shadows/kit/contract.ts', ...['traffic', 'sql', 'partitions', 'volumes'].map((kind) => `shadows/${kind}/contract.ts`)];

/** @type {{ name: string, from: string[], fromNot?: string[], may: string[], types?: string[] }[]} */
const ROOMS = [
  { name: 'model', from: ['model/'], may: [] },
  { name: 'core', from: ['core/'], may: ['model/'] },
  { name: 'types', from: ['types/'], may: [] },
  { name: 'obs', from: ['obs/'], may: BASE, types: ['ingest/', 'store/'] },
  { name: 'store', from: ['store/'], may: BASE },
  { name: 'forecast', from: ['forecast/'], may: BASE },
  { name: 'detect', from: ['detect/'], may: BASE },
  { name: 'plan', from: ['plan/'], may: BASE },
  { name: 'ingest', from: ['ingest/'], may: [...BASE, 'store/'], types: ['obs/'] },
  { name: 'exec', from: ['exec/'], may: BASE, types: ['obs/'] },
  { name: 'sim', from: ['sim/'], may: [...PURE, 'exec/'] },
  // The shadow registry speaks each component's contract (schemas only); a capacity run measures
  // the target's shadow PostgreSQL with the SQL component's own driver.
  { name: 'control', from: ['control/'], may: [...PURE, 'obs/', 'store/', 'exec/', ...CONTRACTS, 'shadows/sql/measure.ts', 'shadows/sql/capacity.ts'], types: ['config.ts'] },
  { name: 'export', from: ['export/'], may: [...BASE, 'obs/', 'store/'], types: ['control/'] },
  { name: 'http-base', from: HTTP_BASE, may: [...BASE, 'obs/'] },
  {
    name: 'shadows',
    from: ['shadows/'],
    may: [...BASE, 'forecast/', 'obs/', 'ingest/sampler.ts', ...HTTP_BASE, 'shadows/timeline.ts', 'shadows/sql/tap.ts'],
  },
  { name: 'config', from: ['config.ts'], may: [...BASE, 'ingest/', 'control/', 'exec/', 'export/', ...HTTP_BASE] },
  {
    name: 'api',
    from: ['api/'],
    fromNot: HTTP_BASE,
    may: [...PURE, 'obs/', 'store/', 'ingest/', 'exec/', 'control/', 'export/', ...HTTP_BASE, 'config.ts', 'ui/'],
    types: ['service.ts'],
  },
  { name: 'ui', from: ['ui/'], may: [] },
  // The demo target's control settings are parsed (defaults filled) as any target's are.
  { name: 'demo', from: ['demo/'], may: [...BASE, 'obs/', 'store/', 'ingest/', 'config.ts', 'control/settings.ts', 'shadows/traffic/'], types: ['service.ts'] },
  { name: 'service', from: ['service.ts'], may: [...PURE, 'obs/', 'store/', 'ingest/', 'exec/', 'control/', 'export/', 'config.ts', 'api/', 'demo/'] },
  { name: 'cli', from: ['cli/'], may: ['*'] },
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** One regular expression matching every path under the given rooms. */
const under = (rooms) => `^src/(?:${rooms.map((r) => escape(r) + (r.endsWith('/') ? '' : '$')).join('|')})`;

const walls = ROOMS.filter((r) => !r.may.includes('*')).flatMap((r) => {
  const from = { path: under(r.from), ...(r.fromNot ? { pathNot: under(r.fromNot) } : {}) };
  const allowed = [...r.from, ...r.may, ...(r.types ?? [])];
  const rules = [
    {
      name: `room-${r.name}`,
      comment: `src/${r.from.join(', src/')} may import ${r.may.length ? r.may.join(', ') : 'no other room'}${r.types ? `, and types only from ${r.types.join(', ')}` : ''} (docs/architecture.md, Rooms)`,
      severity: 'error',
      from,
      to: { path: '^src/', pathNot: under(allowed) },
    },
  ];
  if (r.types) {
    rules.push({
      name: `room-${r.name}-types-only`,
      comment: `src/${r.from.join(', src/')} may import only types from ${r.types.join(', ')}: use \`import type\``,
      severity: 'error',
      from,
      to: { path: under(r.types), dependencyTypesNot: ['type-only'] },
    });
  }
  return rules;
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...walls,
    {
      name: 'no-circular',
      comment: 'Modules must not depend on each other in a circle at run time (type-only imports do not count).',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'not-to-tests',
      comment: 'Product code must not import tests, benchmarks or their helpers.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'not-to-dev-dependencies',
      comment: 'Product code must not load a devDependency at run time: it is not installed with the package.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import must resolve (a typo, or a package missing from package.json). The dashboard\'s modules import by URL.',
      severity: 'error',
      from: { pathNot: '^src/ui/assets/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
