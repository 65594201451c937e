'use strict';
// The function image's entrypoint (func.yaml): one image for every function, the handler chosen by FN_FN_NAME,
// which Fn and OCI Functions set for each function. Copied to dist/fn.js by the build.
const path = require('node:path');
const fs = require('node:fs');

const name = process.env.FN_FN_NAME;
const handler = name && /^[a-z][a-z0-9-]*$/.test(name) ? path.join(__dirname, 'functions', name, 'func.js') : undefined;
if (!handler || !fs.existsSync(handler)) {
  const known = fs.readdirSync(path.join(__dirname, 'functions')).join(', ');
  process.stderr.write(`FN_FN_NAME must name one of the functions in this image (${known}); got ${JSON.stringify(name)}\n`);
  process.exit(2);
}
require(handler);
