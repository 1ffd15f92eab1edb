import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { ConnectionEncrypter, MessageStream } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p, type Libp2p } from 'libp2p';
import { coalesceSocketWrites, withCoalescedWrites } from '../../network/socket-writes.js';
import { waitFor } from '../wait-for.js';

/** Stands in for @libp2p/tcp's connection: the same loop, one socket.write per buffer of a send. */
class FakeTcpConnection {
  constructor(readonly socket: Socket) {}
  sendData(data: readonly Uint8Array[]): { sentBytes: number; canSendMore: boolean } {
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
      [Uint8Array.of(0, 3), Uint8Array.of(1, 2, 3)],
      [Uint8Array.of(0, 2), Uint8Array.of(4, 5)],
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
    conn.sendData([Uint8Array.of(0, 1), Uint8Array.of(6)]);
    await nextTick();
    assert.deepEqual(counts, { write: 0, writev: 2 });
    await waitFor(() => Buffer.concat(received).length === 12, 'the second batch at the peer');
  });

  it('without it the same sends are one write each (what the library does)', async () => {
    const conn = new FakeTcpConnection(client);
    const counts = countWrites(client);
    conn.sendData([Uint8Array.of(0, 3), Uint8Array.of(1, 2, 3)]);
    conn.sendData([Uint8Array.of(0, 2), Uint8Array.of(4, 5)]);
    await nextTick();
    assert.deepEqual(counts, { write: 4, writev: 0 });
  });

  it('keeps backpressure: a send past the high-water mark answers false, and drain follows the flush', async () => {
    const conn = new FakeTcpConnection(client);
    coalesceSocketWrites(conn);
    const big = new Uint8Array(client.writableHighWaterMark + 1);
    assert.equal(conn.sendData([big]).canSendMore, false);
    await once(client, 'drain');
    await waitFor(() => Buffer.concat(received).length === big.length, 'the big send at the peer');
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
    const payload = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    stream.send(payload);
    await waitFor(() => echoed.reduce((n, c) => n + c.length, 0) === payload.length, 'the echo');
    assert.deepEqual(Buffer.concat(echoed), Buffer.from(payload));
    assert.ok(given.length >= 2, 'both ends went through the encrypter');
    for (const c of given) {
      assert.ok((c as unknown as { socket?: unknown }).socket instanceof Socket, "the library's connection still keeps its socket");
      assert.ok(Object.hasOwn(c, 'sendData'), 'its sendData replaced on the connection itself');
    }
  });
});
