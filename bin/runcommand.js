#!/usr/bin/env node
'use strict';
// The `runcommand` executable: the bundled CLI (built by `npm ci`/`npm run build` into dist/). `runcommand agent`
// goes straight to the agent's own bundle, so an agent on a host never loads the platform or the CLI; on a host,
// `runcommand-agent` (bin/runcommand-agent.js) also starts Node with the agent's memory flags.
const path = require('node:path');
const fs = require('node:fs');

const dist = path.join(__dirname, '..', 'dist', 'cli');
const [command, ...rest] = process.argv.slice(2);
const agentOnly = command === 'agent';
const bundle = path.join(dist, agentOnly ? 'runcommand-agent.js' : 'runcommand.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write(`runcommand is not built yet: run \`npm run build\` (or \`npm ci\`) in ${path.dirname(__dirname)}\n`);
  process.exit(70);
}
if (!agentOnly) {
  require(bundle);
} else {
  // The same agent as `runcommand-agent` (bin/runcommand-agent.js), without the V8 memory flags its shebang passes.
  require('./runcommand-agent.js').runAgent(rest);
}
