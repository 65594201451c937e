#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size --no-opt
'use strict';
// `runcommand-agent --config FILE`: the on-host agent on its own, started with V8 flags that keep it small. They must
// be on node's command line (hence this shebang): set at run time, V8 has already sized its heap and ignores them.
// Measured over 600 commands on the benchmark machine, the optimizing compiler bought no CPU for an agent (its work is
// signing, spawning and small file writes) and cost 6-8 MB of RSS. `runcommand agent` runs the same agent without them.
const path = require('node:path');
const fs = require('node:fs');

function runAgent(args) {
  const bundle = path.join(__dirname, '..', 'dist', 'cli', 'runcommand-agent.js');
  if (!fs.existsSync(bundle)) {
    process.stderr.write(`runcommand is not built yet: run \`npm run build\` (or \`npm ci\`) in ${path.dirname(__dirname)}\n`);
    process.exit(70);
  }
  require(bundle)
    .agent(args)
    .then(
      (code) => process.exit(code),
      (e) => {
        process.stderr.write(`runcommand: ${e && e.message ? e.message : String(e)}\n`);
        process.exit(e && e.name === 'UsageError' ? 2 : 1);
      },
    );
}

module.exports = { runAgent };

if (require.main === module) runAgent(process.argv.slice(2));
