/**
 * The replicated application: a key-value store with u64 account balances, applied to committed
 * blocks in order on one thread. Every replica that applies the same blocks reaches the same
 * state root, log root and results, so nothing here may depend on time, randomness, the host,
 * or the iteration order of a Map (the state tree is keyed by key hashes, the log is positional).
 *
 * Command semantics (a failed command changes no state):
 *   put        always OK
 *   delete     NOT_FOUND if absent
 *   cas        CAS_MISMATCH unless the current value equals `expected` (or is absent, for null)
 *   transfer   INVALID_AMOUNT for 0, then INSUFFICIENT_BALANCE, then OVERFLOW of the receiver;
 *              a self-transfer passes the same checks and changes nothing
 *   mint       UNAUTHORIZED when minting is off, INVALID_AMOUNT for 0, OVERFLOW
 *   bytes that do not decode: MALFORMED, still logged at their position
 *   a command from a client request committed in a block above the request's expiry: EXPIRED
 *              (its sequence stays unused)
 *   a command from a client request whose (client key, sequence) already committed: REPLAYED
 *              (replay-window.ts); any other result, failures included, consumes the sequence
 *   a transfer from a client request whose `from` is not the request's signing key: UNAUTHORIZED
 *   a payload entry that is not a well-formed request (its origin given as undefined): MALFORMED,
 *              never decoded as a command
 *
 * The validation layer refuses the last two before a block is voted for; execution applies the
 * same rules so that what commits never depends on the voters having checked. Commands applied
 * with no origins at all (the simulator's opaque payloads) carry no signer and are applied bare.
 */
import { bytesEqual, bytesToHex } from '../../crypto/bytes.js';
import { SHA256_LENGTH, sha256 } from '../../crypto/hash.js';
import type { InclusionProof } from '../../crypto/merkle.js';
import type { Command } from '../../protocol/command.js';
import { CommandDecodeError, decodeCommand, MAX_AMOUNT, MAX_KEY_BYTES, MAX_ACCOUNT_BYTES } from '../../protocol/command.js';
import type { LogEntry } from '../../protocol/log-proof.js';
import { CommandLog } from './log.js';
import { Result } from '../../protocol/result.js';
import { encodeSnapshot, readSnapshot, type SnapshotLimits } from './snapshot.js';
import { CLIENT_KEY_BYTES, MAX_U64 } from '../../protocol/request.js';
import { admitSequence, decodeReplayRecord, encodeReplayRecord, type ReplayRecord } from './replay-window.js';
import { balanceStateKey, decodeBalance, encodeBalance, kvStateKey, replayStateKey } from './state-keys.js';
import type { StateProof } from '../../protocol/state-proof.js';
import { StateTree } from './state-tree.js';

export interface KvApplicationOptions {
  chainId: string;
  /**
   * Whether `mint` commands apply (default true: devnets and tests fund accounts with them).
   * Part of the chain's configuration: every replica must use the same value.
   */
  allowMint?: boolean;
  /** Genesis balances: part of the state at height 0, not commands in the log. */
  initialBalances?: readonly { readonly account: Uint8Array; readonly amount: bigint }[];
}

/**
 * Who sent a command: the signing key and sequence of the client request that carried it. The
 * application keeps, per client key, which sequences committed, so a replayed request commits
 * as REPLAYED instead of acting twice.
 */
export interface RequestOrigin {
  /**
   * The request's id: SHA-256 of its signed bytes as the block carried them. The command's log
   * entry records it, so that a proof names one signed request, not any request with the same
   * command bytes.
   */
  readonly id: Uint8Array;
  readonly clientKey: Uint8Array;
  readonly sequence: bigint;
  /** The last block height at which the request may commit. */
  readonly expiry: bigint;
}

/** What applying one block produced; the roots go into a later block's executed-state header. */
export interface BlockOutcome {
  /** One per command, in block order. */
  results: Result[];
  /** Log position of the block's first command (the i-th command sits at firstPosition + i). */
  firstPosition: number;
  stateRoot: Uint8Array;
  logRoot: Uint8Array;
  /** Number of blocks applied so far, this one included. */
  height: number;
}

export class KvApplication {
  readonly chainId: string;
  readonly allowMint: boolean;
  readonly #state: StateTree;
  readonly #log: CommandLog;
  #height = 0;

  constructor(options: KvApplicationOptions) {
    this.chainId = options.chainId;
    this.allowMint = options.allowMint ?? true;
    this.#state = new StateTree(options.chainId);
    this.#log = new CommandLog(options.chainId);
    for (const { account, amount } of options.initialBalances ?? []) {
      if (account.length === 0 || account.length > MAX_ACCOUNT_BYTES || amount < 0n || amount > MAX_AMOUNT) {
        throw new RangeError('initial balance out of range');
      }
      // Zero balances are absent from the state, as after any transfer that empties an account.
      if (amount > 0n) this.#state.set(balanceStateKey(account), encodeBalance(amount));
    }
  }

  get height(): number {
    return this.#height;
  }

  get logSize(): number {
    return this.#log.size;
  }

  stateRoot(): Uint8Array {
    return this.#state.root();
  }

  logRoot(): Uint8Array {
    return this.#log.root();
  }

  /**
   * Applies one committed block. Never throws for command content: bytes that do not decode
   * commit as MALFORMED. Throws TypeError (before changing anything) only if `commands` is not
   * an array of Uint8Array, which is a bug in the caller, not input from a peer. Any other
   * exception is a bug that may leave the block half applied: the replica must stop and
   * recover from its last durable snapshot, never carry on.
   *
   * `origins[i]`, when present, is the client request that carried `commands[i]` (a committed
   * payload entry that is not a well-formed request has none, and commits as MALFORMED). The
   * log entry of position i records the SHA-256 of the payload entry: `origins[i].id` for a
   * request, and the hash of `commands[i]` itself (the raw entry) otherwise.
   */
  applyBlock(commands: readonly Uint8Array[], origins?: readonly (RequestOrigin | undefined)[]): BlockOutcome {
    if (!Array.isArray(commands) || !commands.every((c) => c instanceof Uint8Array)) {
      throw new TypeError('applyBlock takes an array of encoded commands (Uint8Array)');
    }
    if (origins !== undefined && (!Array.isArray(origins) || origins.length !== commands.length || !origins.every(isOrigin))) {
      throw new TypeError('applyBlock origins must be one RequestOrigin (or undefined) per command');
    }
    const firstPosition = this.#log.size;
    const results: Result[] = [];
    const height = BigInt(this.#height + 1);
    const replay: BlockReplayRecords = new Map();
    for (let i = 0; i < commands.length; i++) {
      const bytes = commands[i]!;
      const result = origins === undefined ? this.#applyBytes(bytes) : this.#applyFrom(bytes, origins[i], height, replay);
      this.#log.append(origins?.[i]?.id ?? sha256(bytes), result);
      results.push(result);
    }
    // Each client's record is written once per block, however many of its requests the block
    // carries: the tree's root depends on the final values only, and nothing in a block reads
    // a replay record but #admit, which reads the block's copy.
    for (const r of replay.values()) if (r.record !== undefined && r.changed) this.#state.set(r.stateKey, encodeReplayRecord(r.record));
    this.#height++;
    return { results, firstPosition, stateRoot: this.#state.root(), logRoot: this.#log.root(), height: this.#height };
  }

  /** The value of KV key `key`, or undefined when absent. */
  query(key: Uint8Array): Uint8Array | undefined {
    if (!(key instanceof Uint8Array) || key.length < 1 || key.length > MAX_KEY_BYTES) return undefined;
    return this.#state.get(kvStateKey(key));
  }

  balance(account: Uint8Array): bigint {
    if (!(account instanceof Uint8Array) || account.length < 1 || account.length > MAX_ACCOUNT_BYTES) return 0n;
    return this.#balance(account);
  }

  /** Proof of `query(key)` against stateRoot(); check it with verifyKvProof. */
  proveKey(key: Uint8Array): StateProof {
    return this.#state.prove(kvStateKey(key));
  }

  /** Proof for a raw state key (namespace byte included) against stateRoot(): what light clients ask. */
  proveStateKey(stateKey: Uint8Array): StateProof {
    return this.#state.prove(stateKey);
  }

  /** Proof of `balance(account)` against stateRoot(); check it with verifyBalanceProof. */
  proveBalance(account: Uint8Array): StateProof {
    return this.#state.prove(balanceStateKey(account));
  }

  logEntry(position: number): LogEntry {
    return this.#log.entry(position);
  }

  /** The request ids of the newest `count` committed commands, oldest first, 32 bytes apiece (CommandLog.recentIds). */
  recentRequestIds(count: number): Uint8Array {
    return this.#log.recentIds(count);
  }

  /** Entry at `position` with its inclusion proof against logRoot(); check it with verifyLogEntry. */
  proveLogEntry(position: number): { entry: LogEntry; proof: InclusionProof } {
    return { entry: this.#log.entry(position), proof: this.#log.prove(position) };
  }

  /** Entry at `position` with its proof against the root of the log's first `logSize` entries. */
  proveLogEntryAt(position: number, logSize: number): { entry: LogEntry; proof: InclusionProof } {
    return { entry: this.#log.entry(position), proof: this.#log.prove(position, logSize) };
  }

  /** Log root when the log held `logSize` entries. */
  logRootAt(logSize: number): Uint8Array {
    return this.#log.rootAt(logSize);
  }

  /** Canonical bytes of the entire application (snapshot.ts). */
  snapshot(): Uint8Array {
    const log = (function* (l: CommandLog) {
      for (let i = 0; i < l.size; i++) yield l.entry(i);
    })(this.#log);
    return encodeSnapshot({ chainId: this.chainId, height: this.#height, entries: this.#state.entries(), log });
  }

  /**
   * Rebuilds an application from snapshot() bytes; throws SnapshotDecodeError for bytes that are
   * not a valid snapshot of `options.chainId`, and SnapshotTooLargeError, before its state or
   * before its log, for one that needs more than `limits` (a peer's: snapshotLimits).
   * The caller must compare stateRoot() and logRoot() with a certified header before trusting
   * the result.
   */
  static fromSnapshot(bytes: Uint8Array, options: KvApplicationOptions, limits?: Pick<SnapshotLimits, 'heapBytes' | 'memoryBytes'>): KvApplication {
    // The snapshot holds the whole state, genesis balances included as they stand now: seeding
    // them again would resurrect an account emptied since.
    const app = new KvApplication({ ...options, initialBalances: [] });
    // Entry by entry into the tree and the log: decoded into arrays first, each entry was held
    // twice, in objects costing far more than its bytes.
    app.#height = readSnapshot(
      bytes,
      options.chainId,
      {
        entry: (key, value) => app.#state.set(key, value),
        logEntry: (requestId, result) => app.#log.append(requestId, result),
      },
      limits,
    );
    return app;
  }

  /** Decodes and applies one command; with `signer`, a transfer must spend from the signer's own account. */
  #applyBytes(bytes: Uint8Array, signer?: Uint8Array): Result {
    let cmd: Command;
    try {
      cmd = decodeCommand(bytes);
    } catch (err) {
      if (err instanceof CommandDecodeError) return Result.MALFORMED;
      throw err;
    }
    if (signer !== undefined && cmd.type === 'transfer' && !bytesEqual(cmd.from, signer)) return Result.UNAUTHORIZED;
    return this.#apply(cmd);
  }

  #apply(cmd: Command): Result {
    switch (cmd.type) {
      case 'put':
        this.#state.set(kvStateKey(cmd.key), cmd.value);
        return Result.OK;
      case 'delete':
        return this.#state.delete(kvStateKey(cmd.key)) ? Result.OK : Result.NOT_FOUND;
      case 'cas': {
        const stateKey = kvStateKey(cmd.key);
        const current = this.#state.get(stateKey);
        const holds = cmd.expected === null ? current === undefined : current !== undefined && bytesEqual(current, cmd.expected);
        if (!holds) return Result.CAS_MISMATCH;
        this.#state.set(stateKey, cmd.value);
        return Result.OK;
      }
      case 'transfer': {
        if (cmd.amount === 0n) return Result.INVALID_AMOUNT;
        const fromBalance = this.#balance(cmd.from);
        if (fromBalance < cmd.amount) return Result.INSUFFICIENT_BALANCE;
        // Read-both-then-write-both would credit over the debit when from = to.
        if (bytesEqual(cmd.from, cmd.to)) return Result.OK;
        const toBalance = this.#balance(cmd.to);
        if (toBalance + cmd.amount > MAX_AMOUNT) return Result.OVERFLOW;
        this.#setBalance(cmd.from, fromBalance - cmd.amount);
        this.#setBalance(cmd.to, toBalance + cmd.amount);
        return Result.OK;
      }
      case 'mint': {
        if (!this.allowMint) return Result.UNAUTHORIZED;
        if (cmd.amount === 0n) return Result.INVALID_AMOUNT;
        const balance = this.#balance(cmd.account);
        if (balance + cmd.amount > MAX_AMOUNT) return Result.OVERFLOW;
        this.#setBalance(cmd.account, balance + cmd.amount);
        return Result.OK;
      }
    }
  }

  /**
   * A client request's command, at block `height`: expired, replayed, or applied. Validation
   * refuses expired requests at each validator's own height; this is the rule every replica
   * applies identically. An expired request leaves its sequence unused.
   */
  #applyFrom(bytes: Uint8Array, origin: RequestOrigin | undefined, height: bigint, replay: BlockReplayRecords): Result {
    // Not a request: whatever its bytes would decode to, nobody signed for it.
    if (origin === undefined) return Result.MALFORMED;
    if (origin.expiry < height) return Result.EXPIRED;
    if (!this.#admit(origin, replay)) return Result.REPLAYED;
    return this.#applyBytes(bytes, origin.clientKey);
  }

  /** Records the origin's sequence as committed in the block's copy of its record; false if it is a replay. */
  #admit(origin: RequestOrigin, replay: BlockReplayRecords): boolean {
    const id = bytesToHex(origin.clientKey);
    let entry = replay.get(id);
    if (entry === undefined) {
      const stateKey = replayStateKey(origin.clientKey);
      entry = { stateKey, record: this.#replayRecordAt(stateKey), changed: false };
      replay.set(id, entry);
    }
    const next = admitSequence(entry.record, origin.sequence);
    if (next === null) return false;
    entry.record = next;
    entry.changed = true;
    return true;
  }

  /** The replay record of a client key (which of its sequences committed), or undefined. */
  replayRecord(clientKey: Uint8Array): ReplayRecord | undefined {
    if (!(clientKey instanceof Uint8Array) || clientKey.length !== CLIENT_KEY_BYTES) return undefined;
    return this.#replayRecordAt(replayStateKey(clientKey));
  }

  #replayRecordAt(stateKey: Uint8Array): ReplayRecord | undefined {
    const stored = this.#state.get(stateKey);
    return stored === undefined ? undefined : (decodeReplayRecord(stored) ?? undefined);
  }

  #balance(account: Uint8Array): bigint {
    const stored = this.#state.get(balanceStateKey(account));
    return stored === undefined ? 0n : (decodeBalance(stored) ?? 0n);
  }

  #setBalance(account: Uint8Array, amount: bigint): void {
    if (amount === 0n) this.#state.delete(balanceStateKey(account));
    else this.#state.set(balanceStateKey(account), encodeBalance(amount));
  }
}

/** The replay records a block touched, by hex client key: read once, written once at its end. */
type BlockReplayRecords = Map<string, { readonly stateKey: Uint8Array; record: ReplayRecord | undefined; changed: boolean }>;

function isOrigin(o: unknown): boolean {
  if (o === undefined) return true;
  const r = o as Partial<RequestOrigin> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    r.id instanceof Uint8Array &&
    r.id.length === SHA256_LENGTH &&
    r.clientKey instanceof Uint8Array &&
    r.clientKey.length === CLIENT_KEY_BYTES &&
    isU64(r.sequence) &&
    isU64(r.expiry)
  );
}

function isU64(v: unknown): boolean {
  return typeof v === 'bigint' && v >= 0n && v <= MAX_U64;
}
