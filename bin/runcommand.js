#!/usr/bin/env node
'use strict';
// The `runcommand` executable: the bundled CLI (built by `npm ci`/`npm run build` into dist/). `runcommand agent`
// goes straight to the agent's own bundle, so an agent on a host never loads the platform or the CLI.
const path = require('node:path');
const fs = require('node:fs');

const dist = path.join(__dirname, '..', 'dist', 'cli');
const [command, ...rest] = process.argv.slice(2);
const agentOnly = command === 'agent' && !rest.includes('--help');
const bundle = path.join(dist, agentOnly ? 'runcommand-agent.js' : 'runcommand.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write(`runcommand is not built yet: run \`npm run build\` (or \`npm ci\`) in ${path.dirname(__dirname)}\n`);
  process.exit(70);
}
if (!agentOnly) {
  require(bundle);
} else {
  // An agent idles on a long-running host: trade a little GC time for a smaller heap.
  require('node:v8').setFlagsFromString('--max-semi-space-size=1');
  require('node:v8').setFlagsFromString('--optimize-for-size');
  require(bundle)
    .agent(rest)
    .then(
      (code) => process.exit(code),
      (e) => {
        process.stderr.write(`runcommand: ${e && e.message ? e.message : String(e)}\n`);
        process.exit(e && e.name === 'UsageError' ? 2 : 1);
      },
    );
}
