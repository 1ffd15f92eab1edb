import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { verifyBundle } from '../../client/verify.js';
import { parseBundle } from '../../protocol/bundle.js';
import { buildCertificateExample, renderCertificateExample } from '../../node/cli/cert-example.js';

const DOC = join(resolve(import.meta.dirname, '..', '..', '..'), 'docs', 'CERTIFICATE.md');

describe('docs/CERTIFICATE.md worked example', () => {
  it('is exactly what `vsmr client example` prints (regenerate it when a format changes)', () => {
    const text = readFileSync(DOC, 'utf8');
    const m = /<!-- example:begin -->\n```text\n([\s\S]*?)```\n<!-- example:end -->/.exec(text);
    assert.ok(m, 'the example markers are in the document');
    assert.equal(m[1], renderCertificateExample());
  });

  it('its bundle verifies, and its QC is the documented size', () => {
    const ex = buildCertificateExample();
    const text = readFileSync(DOC, 'utf8');
    const json = text.slice(text.indexOf('{\n  "version": 2,\n  "chainId": "vsmr-example"'), text.indexOf('```\n<!-- example:end -->'));
    const bundle = parseBundle(json);
    assert.equal(verifyBundle(bundle, ex).executedHeight, 1);
    assert.equal(bundle.qc.length, 132 + 1);
  });
});
