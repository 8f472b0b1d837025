// The layers of DESIGN.md, checked on the built JavaScript (dist/): imports point down only,
// and nothing imports in a circle. TypeScript 7 has no compiler API for the cruiser to read
// src/ with, so type-only imports (erased in dist/) are not checked. Layers, lowest first:
//   telemetry/, stores/  ·  policies/, classify/  ·  pipeline/, workflow/, idempotency/
//   ·  decorators/  ·  entry points (index.ts, setup/, testing/, redis/, context/, cli/)
const layer = (folders) => `^dist/(${folders.join('|')})/`;
const below = {
  telemetry: ['telemetry'],
  stores: ['stores'],
  policies: ['telemetry', 'stores', 'policies', 'classify'],
  pipeline: ['telemetry', 'stores', 'policies', 'classify', 'pipeline', 'workflow', 'idempotency'],
  decorators: ['telemetry', 'stores', 'policies', 'classify', 'pipeline', 'workflow', 'idempotency', 'decorators'],
};
const upward = (name, folders, allowed) => ({
  name: `no-upward-import-from-${name}`,
  comment: `${folders.join('/, ')}/ may import only from ${allowed.join('/, ')}/ (DESIGN.md layers)`,
  severity: 'error',
  from: { path: layer(folders) },
  to: { path: '^dist/', pathNot: layer(allowed) },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    upward('telemetry', ['telemetry'], below.telemetry),
    upward('stores', ['stores'], below.stores),
    upward('policies', ['policies', 'classify'], below.policies),
    upward('pipeline', ['pipeline', 'workflow', 'idempotency'], below.pipeline),
    upward('decorators', ['decorators'], below.decorators),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
  },
};
