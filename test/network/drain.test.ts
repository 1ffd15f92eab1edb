import assert from 'node:assert/strict';
import type { Stream } from '@libp2p/interface';
import { drained } from '../../network/host.js';

/** A fake of the part of a libp2p stream that drained() reads: a flag and its events. */
class FakeStream extends EventTarget {
  writableNeedsDrain = false;
}

const asStream = (f: FakeStream) => f as unknown as Pick<Stream, 'writableNeedsDrain' | 'addEventListener' | 'removeEventListener'>;
const settled = async (p: Promise<unknown>) => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('network/host drained()', () => {
  it('returns at once when nothing waits to be sent', async () => {
    await drained(asStream(new FakeStream()), AbortSignal.timeout(1000));
  });

  it('waits for a drain every time, not only the first (libp2p onDrain() kept its first promise)', async () => {
    const s = new FakeStream();
    for (let round = 0; round < 3; round++) {
      s.writableNeedsDrain = true;
      const wait = drained(asStream(s), AbortSignal.timeout(5000));
      assert.equal(await settled(wait), false, `wait ${round} must not resolve before the drain`);
      s.writableNeedsDrain = false;
      s.dispatchEvent(new Event('drain'));
      await wait;
    }
  });

  it('fails when the stream closes first or the deadline passes', async () => {
    const s = new FakeStream();
    s.writableNeedsDrain = true;
    const closing = drained(asStream(s), AbortSignal.timeout(5000));
    s.dispatchEvent(new Event('close'));
    await assert.rejects(closing, /closed before it drained/);
    const controller = new AbortController();
    const late = drained(asStream(s), controller.signal);
    controller.abort();
    await assert.rejects(late, /did not drain in time/);
    await assert.rejects(drained(asStream(s), AbortSignal.abort()), /did not drain in time/);
  });
});
