import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/sim/ -> repository root
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = resolve(ROOT, 'bin', 'vsmr.js');

function vsmr(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'sim', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sim: CLI contract (vsmr sim)', function () {
  this.timeout(120_000);

  it('--json prints one object with the contract fields; exit 0 without violations', () => {
    const r = vsmr('--replicas', '4', '--seed', '7', '--rounds', '30', '--partition', '8-20', '--crash', '3@22-26', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const key of ['seeds', 'replicas', 'safetyViolations', 'livenessViolations', 'committedCommands', 'messagesPerBlock', 'bytesPerBlock', 'traceHash']) {
      assert.ok(key in out, `missing ${key}`);
    }
    assert.equal(out['seeds'], 1);
    assert.equal(out['replicas'], 4);
    assert.equal(out['safetyViolations'], 0);
    assert.equal(out['livenessViolations'], 0);
    assert.deepEqual(out['violations'], []);
    assert.ok((out['committedCommands'] as number) > 0);
    assert.match(out['traceHash'] as string, /^[0-9a-f]{64}$/);
    const again = JSON.parse(vsmr('--replicas', '4', '--seed', '7', '--rounds', '30', '--partition', '8-20', '--crash', '3@22-26', '--json').stdout) as Record<string, unknown>;
    assert.equal(again['traceHash'], out['traceHash'], 'same seed, same trace hash');
  });

  it('--seeds K runs K seeds; the human summary exits 0', () => {
    const j = vsmr('--replicas', '4', '--seeds', '3', '--rounds', '15', '--drop', '0.05', '--json');
    assert.equal(j.status, 0, j.stderr);
    const out = JSON.parse(j.stdout) as Record<string, unknown>;
    assert.equal(out['seeds'], 3);
    assert.equal(out['traceHash'], undefined);
    const bls = vsmr('--replicas', '4', '--rounds', '8', '--real-crypto', '--crash', '2@3-5', '--json');
    assert.equal(bls.status, 0, bls.stderr);
    assert.equal((JSON.parse(bls.stdout) as Record<string, unknown>)['crypto'], 'bls');
    const h = vsmr('--replicas', '4', '--rounds', '10');
    assert.equal(h.status, 0);
    assert.match(h.stdout, /violations: 0 safety, 0 liveness/);
  });

  it('exit 1 with the violation, seed and trace when one is found (2 silent of 4 > f)', () => {
    const r = vsmr('--replicas', '4', '--rounds', '10', '--byzantine', '2', '--behavior', 'silent', '--json');
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { byzantineExceedsF: boolean; livenessViolations: number; violations: { seed: number; invariant: string; trace: string[] }[] };
    assert.equal(out.byzantineExceedsF, true);
    assert.equal(out.livenessViolations, 1);
    assert.equal(out.violations[0]!.seed, 1);
    assert.equal(out.violations[0]!.invariant, 'liveness');
    assert.ok(out.violations[0]!.trace.length > 0);
  });

  it('exit 1 with an agreement violation from f + 1 colluding equivocators (n = 7, B = 3)', () => {
    const r = vsmr('--replicas', '7', '--rounds', '20', '--byzantine', '3', '--behavior', 'equivocate-unsafe', '--json');
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { safetyViolations: number; byzantineExceedsF: boolean; violations: { invariant: string }[] };
    assert.equal(out.safetyViolations, 1);
    assert.equal(out.byzantineExceedsF, true);
    assert.equal(out.violations[0]!.invariant, 'agreement');
    const human = vsmr('--replicas', '7', '--rounds', '20', '--byzantine', '3', '--behavior', 'equivocate-unsafe');
    assert.equal(human.status, 1);
    assert.match(human.stdout, /seed 1: agreement violated/);
    assert.match(human.stdout, /last events:/);
  });

  it('exit 2 with a one-line message naming the flag on bad usage', () => {
    const cases: [string[], RegExp][] = [
      [[], /--replicas/],
      [['--replicas', 'x'], /--replicas/],
      [['--replicas', '4', '--drop', '1.5'], /--drop/],
      [['--replicas', '4', '--delay', '-1'], /--delay/],
      [['--replicas', '4', '--partition', '60-20'], /--partition/],
      [['--replicas', '4', '--crash', '7@1-5'], /--crash/],
      [['--replicas', '4', '--retain-blocks', '-1'], /--retain-blocks/],
      [['--replicas', '4', '--retain-blocks', 'all'], /--retain-blocks/],
      [['--replicas', '4', '--byzantine', '4', '--behavior', 'silent'], /--byzantine/],
      [['--replicas', '4', '--byzantine', '1', '--behavior', 'nope'], /--behavior/],
      [['--replicas', '4', '--seeds', '0'], /--seeds/],
      [['--replicas', '4', '--proposal-hold-ms', '2000'], /--proposal-hold-ms/],
      [['--replicas', '4', '--submit-every', '0'], /--submit-every/],
      [['--replicas', '4', '--frobnicate'], /frobnicate/],
    ];
    for (const [args, flag] of cases) {
      const r = vsmr(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.split('\n')[0]!, flag, args.join(' '));
    }
  });

  it('--proposal-hold-ms with --submit-every holds roots-only blocks on an idle chain, safely; without them nothing is held', () => {
    const held = vsmr('--replicas', '4', '--seeds', '2', '--rounds', '30', '--proposal-hold-ms', '40', '--submit-every', '4', '--json');
    assert.equal(held.status, 0, held.stderr);
    const out = JSON.parse(held.stdout) as Record<string, unknown>;
    assert.ok((out['proposalHolds'] as number) > 0, `proposalHolds ${String(out['proposalHolds'])}`);
    assert.ok((out['committedCommands'] as number) > 0);
    const plain = JSON.parse(vsmr('--replicas', '4', '--seeds', '2', '--rounds', '30', '--submit-every', '4', '--json').stdout) as Record<string, unknown>;
    assert.equal(plain['proposalHolds'], 0);
  });

  it('--list-behaviors names the shipped behaviours', () => {
    const r = vsmr('--list-behaviors');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^silent\t/m);
    assert.match(r.stdout, /^equivocate-unsafe\t/m);
  });
});
