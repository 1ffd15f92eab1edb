#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in dist/ (built by `npm install` via `prepare`).
import { main } from '../dist/node/cli/main.js';

process.exitCode = await main(process.argv);
