// The public API report: for each entry point in package.json's `exports`, API Extractor
// reads the built declarations (dist/) and writes api/<entry>.api.md; with --docs it also
// writes the doc model that scripts/api-docs.sh turns into the API reference.
//   node scripts/api-report.mjs           check: fails when an export changed without its report
//   node scripts/api-report.mjs --update  accept the change: rewrite the reports (commit them)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = fileURLToPath(new URL('..', import.meta.url));
const update = process.argv.includes('--update');
const docs = process.argv.includes('--docs');
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));

let failed = 0;
for (const [subpath, target] of Object.entries(pkg.exports)) {
  const name = subpath === '.' ? pkg.name : `${pkg.name}-${subpath.slice(2).replaceAll('/', '-')}`;
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: root,
      mainEntryPointFilePath: `<projectFolder>/${target.types}`,
      compiler: { tsconfigFilePath: '<projectFolder>/tsconfig.json' },
      apiReport: {
        enabled: true,
        reportFileName: name,
        reportFolder: '<projectFolder>/api/',
        reportTempFolder: '<projectFolder>/build/api/',
      },
      docModel: { enabled: docs, apiJsonFilePath: `<projectFolder>/build/api-model/${name}.api.json` },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        // Docstrings here are TSDoc-ish prose; the report is about shapes, not doc syntax.
        tsdocMessageReporting: { default: { logLevel: 'none' } },
        extractorMessageReporting: {
          default: { logLevel: 'warning' },
          'ae-missing-release-tag': { logLevel: 'none' },
          'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: true },
          // Members that implement a documented interface inherit its docs; links may name another entry point.
          'ae-undocumented': { logLevel: 'none' },
          'ae-unresolved-link': { logLevel: 'none' },
        },
        compilerMessageReporting: { default: { logLevel: 'warning' } },
      },
    },
    configObjectFullPath: `${root}api/api-extractor.json`,
    packageJsonFullPath: `${root}package.json`,
    // Each entry point is its own "package" to API Extractor (`otel-resilience/redis` → otel-resilience-redis).
    packageJson: { ...pkg, name },
  });
  const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false });
  if (!result.succeeded || (!update && result.apiReportChanged)) {
    failed++;
    console.error(
      `api-report: ${subpath}: the public API changed; if that is intended, run \`npm run api:update\` and commit api/${name}.api.md`,
    );
  }
}
process.exit(failed === 0 ? 0 : 1);
