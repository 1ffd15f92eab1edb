import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { makeDirectories } from '../storage/directories.js';
import { StorageOpenError } from '../storage/lmdb-store.js';

/**
 * One validator process per data directory and per validator key on a host. LMDB lets several
 * processes share an environment, so a second `vsmr start` on a home in use ran beside the
 * first on one key: each signed its own votes and blocks (the same validator twice, an
 * equivocation), they forked the directory's ledger between them, and the next start found it
 * corrupt. A copied home (a backup restored beside the live one) has another directory and the
 * same key: the key's claim catches that one.
 *
 * A claim is a Linux abstract-namespace Unix socket: binding a name already bound fails at once,
 * and the kernel frees the name when its process dies, kill -9 included, so there is no lock file
 * to go stale and no window between a check and a claim. Whoever connects is told the holder's
 * pid, for the refusal. What it does not cover: processes in different network namespaces
 * (containers sharing a volume or a key) do not see each other's claims, and any local user can
 * bind a name first and so keep a validator from starting (the refusal names the squatter's pid,
 * or says it did not answer). Elsewhere than Linux nothing is claimed (`held` is false) and the
 * caller says so.
 */
export class AlreadyRunningError extends Error {
  constructor(
    message: string,
    /** The holder's process id, when it answered. */
    readonly holder: number | undefined,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A second process on a data directory in use. */
export class DataDirInUseError extends AlreadyRunningError {
  constructor(
    readonly dir: string,
    holder: number | undefined,
  ) {
    super(`data directory ${dir} is in use by ${holderText(holder)}; two validators on one directory would sign as one key twice. Stop the other one first`, holder);
  }
}

/** A second process on a validator key in use on this host (another home with the same keys). */
export class ValidatorKeyInUseError extends AlreadyRunningError {
  constructor(
    readonly chainId: string,
    readonly peerId: string,
    holder: number | undefined,
  ) {
    super(`validator ${peerId} of chain ${chainId} is already running on this host, as ${holderText(holder)}; two processes on one key would sign twice. Stop the other one first`, holder);
  }
}

const holderText = (holder: number | undefined) => (holder === undefined ? 'a process that did not say which' : `process ${holder}`);

/** Held for as long as this process runs as what it claimed. */
export interface InstanceClaim {
  /** False where the platform offers no such claim: nothing is held. */
  readonly held: boolean;
  release(): Promise<void>;
}

/** How long a holder gets to say who it is. */
const HOLDER_ANSWER_MS = 1000;

/**
 * Claims `dir` (created if missing) for this process until `release()` or the process's end. The
 * directory is named by its device and inode, not its path, so a symlink or a second mount point
 * of it is the same directory. Throws DataDirInUseError when another process (or this one) holds
 * it, and StorageOpenError when `dir` cannot be made or read.
 */
export async function claimDataDir(dir: string, platform: NodeJS.Platform = process.platform): Promise<InstanceClaim> {
  let id: { dev: bigint; ino: bigint };
  try {
    makeDirectories(dir, 0o700);
    id = statSync(dir, { bigint: true });
  } catch (err) {
    throw new StorageOpenError(dir, err);
  }
  return claimName(`vsmr/data-dir/${id.dev}/${id.ino}`, platform, (holder) => new DataDirInUseError(dir, holder));
}

/** Claims validator `peerId` of `chainId` on this host; throws ValidatorKeyInUseError when it is held. */
export function claimValidatorKey(chainId: string, peerId: string, platform: NodeJS.Platform = process.platform): Promise<InstanceClaim> {
  // Hashed: a chain id and a peer id together can pass the 107 bytes an abstract name may hold.
  const key = createHash('sha256').update(`${chainId}\0${peerId}`).digest('hex');
  return claimName(`vsmr/validator/${key}`, platform, (holder) => new ValidatorKeyInUseError(chainId, peerId, holder));
}

async function claimName(name: string, platform: NodeJS.Platform, taken: (holder: number | undefined) => Error): Promise<InstanceClaim> {
  if (platform !== 'linux') return { held: false, release: async () => undefined };
  const path = `\0${name}`;
  const visitors = new Set<Socket>();
  const server = createServer((socket) => {
    visitors.add(socket);
    socket.on('close', () => visitors.delete(socket));
    socket.on('error', () => undefined);
    // A visitor that never reads neither keeps this process alive nor holds up its release.
    socket.unref();
    socket.setTimeout(HOLDER_ANSWER_MS, () => socket.destroy());
    socket.end(String(process.pid));
  });
  try {
    await listen(server, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw taken(await askHolder(path));
  }
  // The claim must not keep an otherwise finished process alive.
  server.unref();
  let released: Promise<void> | undefined;
  return {
    held: true,
    release() {
      released ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of visitors) socket.destroy();
      });
      return released;
    },
  };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The holder's pid as it answers, or undefined if it does not within HOLDER_ANSWER_MS. */
function askHolder(path: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const socket = createConnection({ path });
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
