/**
 * One socket write per tick for a libp2p TCP connection, instead of one per buffer.
 *
 * @libp2p/tcp (11) hands the socket each buffer of a send on its own (`socket.write` in a loop),
 * with TCP_NODELAY set, and noise (@chainsafe/libp2p-noise 17) sends every message as two
 * buffers: its 2-byte length and the ciphertext. So a yamux frame cost two `write` system calls
 * and two TCP segments, and a window update beside it two more; `strace` of a validator at full
 * blocks showed runs of 2-byte writes, each followed by its 28-79 byte body. Node's own answer is
 * `cork()` with `uncork()` on the next tick (the pattern its stream docs give): what a tick writes
 * to the socket leaves in one `writev`, in order.
 *
 * How long bytes wait: the next tick comes after the current callback returns, before promise
 * continuations; a send from a continuation corks again and leaves once the microtasks queued
 * behind it have run (nothing waits into the next turn of the event loop). So a frame may wait
 * for the handlers queued in the same drain of microtasks; the A/B runs put block-1 p50 and p99
 * within the noise of the build without it.
 *
 * Backpressure is as it was: a socket that the kernel keeps up with answered every write true
 * (Node counts a write that completed at once as gone), and a corked one would answer false as
 * soon as a tick's bytes reached its high-water mark, marking every stream of the connection as
 * needing to drain for nothing. So a send that would take the held bytes to the mark flushes
 * them first, and `write` answers false only when the kernel falls behind.
 */
import { Socket } from 'node:net';
import type { ConnectionEncrypter } from '@libp2p/interface';

/** The parts of @libp2p/tcp's connection this reads (not in its typings: the class is internal). */
interface TcpConnectionParts {
  socket: Socket;
  sendData: (data: unknown) => unknown;
}

/** Bytes in what a send hands over (a Uint8ArrayList or a Uint8Array; 0 when neither, which only delays a flush). */
function byteLength(data: unknown): number {
  const n = (data as { byteLength?: unknown } | null)?.byteLength;
  return typeof n === 'number' ? n : 0;
}

function isTcpConnection(value: unknown): value is TcpConnectionParts {
  const c = value as Partial<TcpConnectionParts> | null;
  return c !== null && typeof c === 'object' && c.socket instanceof Socket && typeof c.sendData === 'function';
}

/**
 * Makes `connection` (the raw connection a connection encrypter is given) cork its socket at
 * the first send of a tick and uncork it on the next. Returns false, changing nothing, for a
 * connection that is not @libp2p/tcp's (another transport, or a release that renamed the parts
 * this reads): that connection writes as the library does.
 */
export function coalesceSocketWrites(connection: unknown): boolean {
  if (!isTcpConnection(connection)) return false;
  const socket = connection.socket;
  const send = connection.sendData.bind(connection);
  // `corked` pairs every cork() with one uncork(); one end-of-tick flush is pending at a time.
  let corked = false;
  let flushPending = false;
  const uncork = () => {
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  const endOfTick = () => {
    flushPending = false;
    uncork();
  };
  connection.sendData = (data: unknown) => {
    const bytes = byteLength(data);
    // What is held leaves before a send that would take it to the mark; a send that reaches
    // the mark alone goes straight to the socket.
    if (corked && socket.writableLength + bytes >= socket.writableHighWaterMark) uncork();
    if (!corked && bytes < socket.writableHighWaterMark) {
      corked = true;
      socket.cork();
      if (!flushPending) {
        flushPending = true;
        process.nextTick(endOfTick);
      }
    }
    return send(data);
  };
  return true;
}

/**
 * A connection encrypter factory whose connections coalesce their socket writes: the encrypter
 * is the one component libp2p hands the raw transport connection to, so the change happens there
 * and the encrypter itself is untouched.
 */
export function withCoalescedWrites<C, E extends ConnectionEncrypter<X>, X = unknown>(factory: (components: C) => E): (components: C) => E {
  return (components) => {
    const encrypter = factory(components);
    const inbound = encrypter.secureInbound.bind(encrypter);
    const outbound = encrypter.secureOutbound.bind(encrypter);
    encrypter.secureInbound = (connection, options) => {
      coalesceSocketWrites(connection);
      return inbound(connection, options);
    };
    encrypter.secureOutbound = (connection, options) => {
      coalesceSocketWrites(connection);
      return outbound(connection, options);
    };
    return encrypter;
  };
}
