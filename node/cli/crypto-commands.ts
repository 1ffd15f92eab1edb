import { stat } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { BLS_BACKEND_NAMES, blsBackend } from '../../crypto/bls/index.js';
import { runBlsVectors } from '../../crypto/bls/vectors.js';
import { UsageError } from './usage-error.js';

export function registerCryptoCommands(program: Command): void {
  const crypto = program.command('crypto').description('cryptography tools');
  crypto
    .command('vectors')
    .description('run BLS conformance vectors (Ethereum consensus-spec layout) from DIR')
    .argument('<dir>', 'directory with sign/, verify/, aggregate/, ... folders of JSON cases')
    .addOption(new Option('--backend <name>', 'BLS backend').choices([...BLS_BACKEND_NAMES]).default('blst'))
    .action(async (dir: string, opts: { backend: string }) => {
      const info = await stat(dir).catch(() => undefined);
      if (!info?.isDirectory()) throw new UsageError(`not a directory: ${dir}`);
      const report = await runBlsVectors(dir, blsBackend(opts.backend));
      for (const f of report.failures) process.stdout.write(`FAIL ${f.file}: ${f.reason}\n`);
      process.stdout.write(`${report.passed} passed, ${report.failed} failed\n`);
      // A wrong directory passes nothing and fails nothing: say why it is not a pass.
      if (report.passed + report.failed === 0) {
        process.stderr.write(`vsmr crypto vectors: no cases found in ${dir} (expected folders sign, verify, aggregate, fast_aggregate_verify, aggregate_verify, batch_verify of JSON cases)\n`);
      }
      process.exitCode = report.failed === 0 && report.passed > 0 ? 0 : 1;
    });
}
