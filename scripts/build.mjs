// Bundles every Fn function, the CLI (platform, agent) and the benchmark with esbuild, with source maps.
// Native and SDK packages stay external: they are installed by `npm ci` beside the bundles.
// `--if-stale` (what `npm start` passes) builds only when a file the last build read has changed since, or is gone.
import { build } from 'esbuild';
import { copyFileSync, existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist');

/** What the last build read (esbuild's metafile inputs, plus this script), written into dist/ by that build. */
const INPUTS_FILE = '.inputs.json';

function isStale() {
  let inputs;
  let builtAtMs;
  try {
    const file = path.join(out, INPUTS_FILE);
    inputs = JSON.parse(readFileSync(file, 'utf8'));
    builtAtMs = statSync(file).mtimeMs;
  } catch {
    return true;
  }
  return inputs.some((input) => {
    try {
      return statSync(path.join(root, input)).mtimeMs > builtAtMs;
    } catch {
      return true;
    }
  });
}

if (process.argv.includes('--if-stale') && !isStale()) {
  console.error('dist/ is up to date');
  process.exit(0);
}

const functionNames = readdirSync(path.join(root, 'functions'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(root, 'functions', d.name, 'func.ts')))
  .map((d) => d.name);

const entryPoints = {
  ...Object.fromEntries(functionNames.map((n) => [`functions/${n}/func`, path.join(root, 'functions', n, 'func.ts')])),
  'cli/runcommand': path.join(root, 'cli/main.ts'),
  // The agent's own bundle: what a host runs, without the platform, SQLite or the CLI's SDK clients.
  'cli/runcommand-agent': path.join(root, 'cli/agent.ts'),
  'bench/bench': path.join(root, 'bench/bench.ts'),
  'bench/agent-host': path.join(root, 'bench/agent-host.ts'),
};

// Built beside dist/ and swapped in only when the build succeeded, so a failed build leaves the last good one and
// processes running from dist/ see either the old bundles or the new ones.
const staging = `${out}.staging-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
let result;
try {
  result = await build({
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
  metafile: true,
  });
} catch (e) {
  rmSync(staging, { recursive: true, force: true });
  throw e;
}
// The function image's entrypoint picks a bundle by FN_FN_NAME (func.yaml).
copyFileSync(path.join(root, 'functions', 'entry.js'), path.join(staging, 'fn.js'));
const inputs = [...Object.keys(result.metafile.inputs), 'functions/entry.js', 'scripts/build.mjs', 'package-lock.json'];
writeFileSync(path.join(staging, INPUTS_FILE), `${JSON.stringify(inputs)}\n`);
const previous = `${out}.previous-${process.pid}`;
if (existsSync(out)) renameSync(out, previous);
renameSync(staging, out);
rmSync(previous, { recursive: true, force: true });
console.error(`built ${Object.keys(entryPoints).length} bundle(s) into dist/`);
