#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in dist/ (built by `npm install` via `prepare`).
// The libp2p stack needs Node >= 22; the project brings Node 24 in node_modules/.bin, which
// `npx vsmr` and every npm script use. A bare `node bin/vsmr.js` may find an older system Node.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(`vsmr: needs Node >= 22, this is ${process.version} (${process.execPath}); run it as \`npx vsmr ...\`, which uses the project's own Node\n`);
  process.exit(1);
}
const { main } = await import('../dist/node/cli/main.js');
process.exitCode = await main(process.argv);
