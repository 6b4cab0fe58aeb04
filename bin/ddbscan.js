#!/usr/bin/env node
// The CLI is written in TypeScript and run through tsx, so `npx ddbscan` needs no build step.
require('tsx/cjs');
require('./ddbscan.ts');
