import type { DigestMemo } from '../../crypto/digest-memo.js';
import { readRequest, requestId } from '../../protocol/request.js';
import type { RequestOrigin } from './kv-app.js';

/** A committed payload as the application takes it: one command and its origin per entry. */
export interface ApplicationInputs {
  readonly commands: Uint8Array[];
  readonly origins: (RequestOrigin | undefined)[];
}

/**
 * Splits a committed block's payload (encoded client requests) into what the application
 * applies: each request's command, with its client key, sequence and expiry (for replay
 * protection and the expiry rule). An entry that is not a well-formed request commits as the
 * raw bytes, with no origin (the application logs it as MALFORMED), never skipped: every
 * replica logs the same entries. Each request's id is the digest of the entry's bytes, so the
 * log records exactly what the block carried: hashed here, or taken from `ids`, the memo that
 * already hashed the same arrays when they arrived (a third SHA-256 of every request otherwise).
 */
export function applicationInputs(payload: readonly Uint8Array[], ids?: DigestMemo): ApplicationInputs {
  const commands: Uint8Array[] = [];
  const origins: (RequestOrigin | undefined)[] = [];
  for (const bytes of payload) {
    // Views into the payload, not copies: the application copies what it keeps.
    const r = readRequest(bytes);
    if (r !== undefined) {
      commands.push(r.command);
      origins.push({ id: ids === undefined ? requestId(bytes) : ids.digest(bytes), clientKey: r.clientKey, sequence: r.sequence, expiry: r.expiry });
    } else {
      commands.push(bytes);
      origins.push(undefined);
    }
  }
  return { commands, origins };
}
