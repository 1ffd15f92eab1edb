import { statSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { StorageError } from './codec.js';
import { makeDirectories } from './directories.js';
import { StorageOpenError } from './lmdb-store.js';

/**
 * A second validator process on a data directory another one is using. LMDB lets several
 * processes share an environment, so without this both ran on one key: each signed its own
 * votes and blocks (the same validator twice, an equivocation), they forked the directory's
 * ledger between them, and the next start found it corrupt.
 */
export class DataDirInUseError extends StorageError {
  constructor(
    readonly dir: string,
    /** The holder's process id, when it answered. */
    readonly holder: number | undefined,
  ) {
    super(
      `data directory ${dir} is in use by ${holder === undefined ? 'another process' : `process ${holder}`}; ` +
        'two validators on one directory would sign as one key twice. Stop the other one first',
      'DATA_DIR_IN_USE',
    );
  }
}

/** Held for as long as this process uses the directory. */
export interface DataDirLock {
  /** False where the platform offers no such lock (see lockDataDir): nothing is held. */
  readonly held: boolean;
  release(): Promise<void>;
}

/** How long a holder gets to say who it is before it is named "another process". */
const HOLDER_ANSWER_MS = 1000;

/**
 * Claims `dir` (created if missing) for this process until `release()` or the process's end.
 *
 * The claim is a Linux abstract-namespace Unix socket named by the directory's device and inode:
 * binding a name already bound fails at once, and the kernel frees the name when its process
 * dies, kill -9 included, so there is no lock file to go stale and no window between a check and
 * a claim. The inode, not the path, names the directory, so a symlink or a second mount point of
 * it is the same directory. Whoever connects is told the holder's pid, for the refusal. Abstract
 * names live in a network namespace: processes in different namespaces (containers sharing a
 * volume) do not see each other's claims. Elsewhere than Linux nothing is claimed (`held` is
 * false) and the caller says so.
 *
 * Throws DataDirInUseError when another process (or this one) holds `dir`, and StorageOpenError
 * when `dir` cannot be made or read.
 */
export async function lockDataDir(dir: string, platform: NodeJS.Platform = process.platform): Promise<DataDirLock> {
  let id: { dev: number; ino: number };
  try {
    makeDirectories(dir, 0o700);
    id = statSync(dir);
  } catch (err) {
    throw new StorageOpenError(dir, err);
  }
  if (platform !== 'linux') return { held: false, release: async () => undefined };
  const name = `\0vsmr/data-dir/${id.dev}/${id.ino}`;
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(String(process.pid));
  });
  try {
    await listen(server, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw new StorageOpenError(dir, err);
    throw new DataDirInUseError(dir, await askHolder(name));
  }
  // The claim must not keep an otherwise finished process alive.
  server.unref();
  let released: Promise<void> | undefined;
  return {
    held: true,
    release() {
      released ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return released;
    },
  };
}

function listen(server: Server, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: name }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The holder's pid as it answers, or undefined if it does not within HOLDER_ANSWER_MS. */
function askHolder(name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const socket = createConnection({ path: name });
    const done = (pid: number | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(pid);
    };
    const timer = setTimeout(() => done(undefined), HOLDER_ANSWER_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 32) done(undefined);
    });
    socket.on('end', () => done(/^[1-9]\d{0,9}$/.test(text) ? Number(text) : undefined));
    socket.on('error', () => done(undefined));
  });
}
