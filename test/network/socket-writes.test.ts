import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { ConnectionEncrypter, MessageStream } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p, type Libp2p } from 'libp2p';
import { Uint8ArrayList } from 'uint8arraylist';
import { coalesceSocketWrites, withCoalescedWrites } from '../../network/socket-writes.js';
import { waitFor } from '../wait-for.js';

/** Stands in for @libp2p/tcp's connection: the same loop, one socket.write per buffer of a send. */
class FakeTcpConnection {
  constructor(readonly socket: Socket) {}
  sendData(data: Uint8ArrayList): { sentBytes: number; canSendMore: boolean } {
    let sentBytes = 0;
    let canSendMore = true;
    for (const buf of data) {
      sentBytes += buf.byteLength;
      canSendMore = this.socket.write(buf);
    }
    return { sentBytes, canSendMore };
  }
}

/** Counts the writes the socket's Writable machinery hands down: one _write per chunk, or one _writev per batch. */
function countWrites(socket: Socket): { write: number; writev: number } {
  const counts = { write: 0, writev: 0 };
  const s = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = s._write.bind(socket);
  const writev = s._writev.bind(socket);
  s._write = (...a) => {
    counts.write++;
    write(...a);
  };
  s._writev = (...a) => {
    counts.writev++;
    writev(...a);
  };
  return counts;
}

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe('network/socket-writes: one socket write per tick', () => {
  let server: Server;
  let client: Socket;
  let received: Buffer[];

  beforeEach(async () => {
    received = [];
    server = createServer((s) => s.on('data', (d) => received.push(d)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    client = new Socket();
    client.setNoDelay(true);
    client.connect(port, '127.0.0.1');
    await once(client, 'connect');
  });

  afterEach(async () => {
    client.destroy();
    server.close();
    await once(server, 'close');
  });

  it("holds a tick's sends in the socket and hands them down as one batch, in order", async () => {
    const conn = new FakeTcpConnection(client);
    assert.equal(coalesceSocketWrites(conn), true);
    const counts = countWrites(client);
    const sends = [
      new Uint8ArrayList(Uint8Array.of(0, 3), Uint8Array.of(1, 2, 3)),
      new Uint8ArrayList(Uint8Array.of(0, 2), Uint8Array.of(4, 5)),
    ];
    for (const s of sends) assert.equal(conn.sendData(s).canSendMore, true);
    assert.equal(client.writableCorked, 1, 'corked for the rest of the tick');
    assert.equal(client.writableLength, 9, 'nothing handed to the kernel yet');
    await nextTick();
    assert.equal(client.writableCorked, 0, 'uncorked on the next tick');
    assert.deepEqual(counts, { write: 0, writev: 1 });
    await waitFor(() => Buffer.concat(received).length === 9, 'all bytes at the peer');
    assert.deepEqual([...Buffer.concat(received)], [0, 3, 1, 2, 3, 0, 2, 4, 5]);

    // The next tick's sends form a batch of their own.
    conn.sendData(new Uint8ArrayList(Uint8Array.of(0, 1), Uint8Array.of(6)));
    await nextTick();
    assert.deepEqual(counts, { write: 0, writev: 2 });
    await waitFor(() => Buffer.concat(received).length === 12, 'the second batch at the peer');
  });

  it('without it the same sends are one write each (what the library does)', async () => {
    const conn = new FakeTcpConnection(client);
    const counts = countWrites(client);
    conn.sendData(new Uint8ArrayList(Uint8Array.of(0, 3), Uint8Array.of(1, 2, 3)));
    conn.sendData(new Uint8ArrayList(Uint8Array.of(0, 2), Uint8Array.of(4, 5)));
    await nextTick();
    assert.deepEqual(counts, { write: 4, writev: 0 });
  });

  it("never holds a tick's bytes up to the high-water mark: what is held leaves before a send that would reach it", async () => {
    const conn = new FakeTcpConnection(client);
    coalesceSocketWrites(conn);
    const counts = countWrites(client);
    const mark = client.writableHighWaterMark;
    const piece = Math.floor(mark / 3);
    const sent: number[] = [];
    for (let i = 0; i < 7; i++) {
      const body = new Uint8Array(piece).fill(i);
      // Each under the mark, together more than twice it: every one answered true, none held at the mark.
      assert.equal(conn.sendData(new Uint8ArrayList(Uint8Array.of(i), body)).canSendMore, true, `send ${i} answered true`);
      assert.ok(client.writableLength < mark, `send ${i}: ${client.writableLength} bytes held, the mark is ${mark}`);
      sent.push(i, ...body);
    }
    assert.ok(counts.writev >= 2, `flushed within the tick as well as at its end (${counts.writev} writev)`);
    await nextTick();
    assert.equal(client.writableCorked, 0);
    await waitFor(() => Buffer.concat(received).length === sent.length, 'every byte at the peer');
    assert.ok(Buffer.concat(received).equals(Buffer.from(sent)), 'in order');
  });

  it('sends a send that reaches the mark alone straight to the socket', async () => {
    const conn = new FakeTcpConnection(client);
    coalesceSocketWrites(conn);
    conn.sendData(new Uint8ArrayList(Uint8Array.of(1)));
    assert.equal(client.writableCorked, 1);
    const big = new Uint8Array(client.writableHighWaterMark).fill(7);
    conn.sendData(new Uint8ArrayList(big));
    assert.equal(client.writableCorked, 0, 'not corked for it');
    await nextTick();
    assert.equal(client.writableCorked, 0, 'and no cork left over');
    await waitFor(() => Buffer.concat(received).length === big.length + 1, 'both sends at the peer');
  });

  it('leaves anything that is not a TCP connection as it is', () => {
    const notTcp = { sendData: () => ({ sentBytes: 0, canSendMore: true }) };
    const before = notTcp.sendData;
    assert.equal(coalesceSocketWrites(notTcp), false);
    assert.equal(notTcp.sendData, before);
    assert.equal(coalesceSocketWrites(null), false);
    assert.equal(coalesceSocketWrites({ socket: {}, sendData: () => undefined }), false);
  });
});

describe('network/socket-writes: on a real libp2p connection', () => {
  const nodes: Libp2p[] = [];
  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  });

  it("reaches @libp2p/tcp's connection through the encrypter, and the connection still carries a stream", async () => {
    const given: MessageStream[] = [];
    // Records what libp2p hands the encrypter, after withCoalescedWrites has had it.
    const recording = (components: Parameters<ReturnType<typeof noise>>[0]): ConnectionEncrypter => {
      const e = noise()(components);
      const inbound = e.secureInbound.bind(e);
      const outbound = e.secureOutbound.bind(e);
      e.secureInbound = (c, o) => {
        given.push(c);
        return inbound(c, o);
      };
      e.secureOutbound = (c, o) => {
        given.push(c);
        return outbound(c, o);
      };
      return e;
    };
    for (let i = 0; i < 2; i++) {
      nodes.push(
        await createLibp2p({
          addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
          transports: [tcp()],
          connectionEncrypters: [withCoalescedWrites(recording)],
          streamMuxers: [yamux()],
        }),
      );
    }
    const [a, b] = nodes as [Libp2p, Libp2p];
    const echoed: Uint8Array[] = [];
    await b.handle('/test/echo/1', (stream) => {
      stream.addEventListener('message', (evt) => {
        stream.send(evt.data);
      });
    });
    const stream = await a.dialProtocol(b.getMultiaddrs(), '/test/echo/1');
    stream.addEventListener('message', (evt) => echoed.push(evt.data.subarray()));
    const counts = given.map((c) => countWrites((c as unknown as { socket: Socket }).socket));
    const payload = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    stream.send(payload);
    await waitFor(() => echoed.reduce((n, c) => n + c.length, 0) === payload.length, 'the echo');
    assert.deepEqual(Buffer.concat(echoed), Buffer.from(payload));
    assert.ok(given.length >= 2, 'both ends went through the encrypter');
    // Each noise message is two buffers (its length, then the ciphertext): one writev, never a write each.
    assert.deepEqual(
      counts.map((c) => c.write),
      counts.map(() => 0),
      'no lone writes',
    );
    assert.ok(counts.reduce((n, c) => n + c.writev, 0) >= 2, 'the payload and its echo left as writev');
    for (const c of given) {
      assert.ok((c as unknown as { socket?: unknown }).socket instanceof Socket, "the library's connection still keeps its socket");
      assert.ok(Object.hasOwn(c, 'sendData'), 'its sendData replaced on the connection itself');
    }
  });
});
