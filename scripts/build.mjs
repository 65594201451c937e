// Bundles every Fn function, the CLI (platform, agent) and the benchmark with esbuild, with source maps.
// Native and SDK packages stay external: they are installed by `npm ci` beside the bundles.
import { build } from 'esbuild';
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist');

const functionNames = readdirSync(path.join(root, 'functions'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(root, 'functions', d.name, 'func.ts')))
  .map((d) => d.name);

const entryPoints = {
  ...Object.fromEntries(functionNames.map((n) => [`functions/${n}/func`, path.join(root, 'functions', n, 'func.ts')])),
  ...(existsSync(path.join(root, 'cli/main.ts')) ? { 'cli/runcommand': path.join(root, 'cli/main.ts') } : {}),
  // The agent's own bundle: what a host runs, without the platform, SQLite or the CLI's SDK clients.
  'cli/runcommand-agent': path.join(root, 'cli/agent.ts'),
  'bench/bench': path.join(root, 'bench/bench.ts'),
  'bench/agent-host': path.join(root, 'bench/agent-host.ts'),
};

// Built beside dist/ and swapped in only when the build succeeded, so a failed build leaves the last good one and
// processes running from dist/ see either the old bundles or the new ones.
const staging = `${out}.staging-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
try {
  await build({
  entryPoints,
  outdir: staging,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['better-sqlite3', 'oci-common', 'oci-objectstorage', 'oci-streaming', 'oci-computeinstanceagent', '@fnproject/fdk'],
  logLevel: 'warning',
  legalComments: 'none',
  });
} catch (e) {
  rmSync(staging, { recursive: true, force: true });
  throw e;
}
// The function image's entrypoint picks a bundle by FN_FN_NAME (func.yaml).
copyFileSync(path.join(root, 'functions', 'entry.js'), path.join(staging, 'fn.js'));
const previous = `${out}.previous-${process.pid}`;
if (existsSync(out)) renameSync(out, previous);
renameSync(staging, out);
rmSync(previous, { recursive: true, force: true });
console.error(`built ${Object.keys(entryPoints).length} bundle(s) into dist/`);
