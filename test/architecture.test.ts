import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * The dependency direction from DESIGN.md, checked on the sources: `crypto` uses nothing of
 * the project, `protocol` (the formats every party shares) only `crypto`, and the light
 * client never reaches into the replica (`node`), the validation pool or the simulator.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  crypto: ['crypto'],
  protocol: ['protocol', 'crypto'],
  network: ['network', 'protocol', 'crypto'],
  client: ['client', 'protocol', 'network', 'crypto'],
  validation: ['validation', 'protocol', 'crypto'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** Top-level folders that `file`'s relative imports (static, dynamic and type-only) point into. */
function importedLayers(file: string): { spec: string; layer: string }[] {
  const text = readFileSync(file, 'utf8');
  const out: { spec: string; layer: string }[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = relative(ROOT, resolve(file, '..', m[1]!));
    out.push({ spec: m[1]!, layer: target.split(/[\\/]/)[0]! });
  }
  return out;
}

describe('layering', () => {
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer}/ imports only ${allowed.join(', ')}`, () => {
      const bad: string[] = [];
      for (const file of sources(join(ROOT, layer))) {
        for (const imp of importedLayers(file)) {
          if (!allowed.includes(imp.layer)) bad.push(`${relative(ROOT, file)} -> ${imp.spec}`);
        }
      }
      assert.deepEqual(bad, []);
    });
  }

  it('the check sees a forbidden import when there is one', () => {
    // Guards the regex: a file of the replica importing the simulator would be reported.
    const found = importedLayers(join(ROOT, 'node', 'cli', 'sim-command.ts')).map((i) => i.layer);
    assert.ok(found.includes('sim'));
  });
});
