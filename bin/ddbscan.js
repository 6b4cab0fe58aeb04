#!/usr/bin/env node
// The `ddbscan` binary. The installed package runs the compiled CLI (dist/bin/ddbscan.js, built by
// `npm run build`); a checkout of the repository, where the TypeScript source sits beside this
// file, runs the source through tsx, so it needs no build step.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const source = join(__dirname, 'ddbscan.ts');
if (existsSync(source)) {
  require('tsx/cjs');
  require(source);
} else {
  require('../dist/bin/ddbscan.js');
}
