// Bundles every Fn function, the CLI (platform, agent) and the benchmark with esbuild, with source maps.
// Native and SDK packages stay external: they are installed by `npm ci` beside the bundles.
import { build } from 'esbuild';
import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
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
  ...(existsSync(path.join(root, 'bench/bench.ts')) ? { 'bench/bench': path.join(root, 'bench/bench.ts') } : {}),
};

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints,
  outdir: out,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['better-sqlite3', 'oci-common', 'oci-objectstorage', 'oci-streaming', 'oci-computeinstanceagent', '@fnproject/fdk'],
  logLevel: 'warning',
  legalComments: 'none',
});
// The function image's entrypoint picks a bundle by FN_FN_NAME (func.yaml).
copyFileSync(path.join(root, 'functions', 'entry.js'), path.join(out, 'fn.js'));
console.error(`built ${Object.keys(entryPoints).length} bundle(s) into dist/`);
