#!/usr/bin/env node
'use strict';
// The `runcommand` executable: the bundled CLI (built by `npm ci`/`npm run build` into dist/).
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli', 'runcommand.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('runcommand is not built yet: run `npm run build` (or `npm ci`) in ' + path.dirname(__dirname) + '\n');
  process.exit(70);
}
require(bundle);
