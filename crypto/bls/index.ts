import { CryptoArgumentError } from '../errors.js';
import { createBlstBackend } from './blst-backend.js';
import { createNobleBackend } from './noble-backend.js';
import { BLS_BACKEND_NAMES, type BlsBackend, type BlsBackendName } from './types.js';

export * from './keys.js';
export * from './types.js';

/**
 * Returns a backend by name. A fresh object per call is fine (noble's keeps a small memo of
 * hashed messages, so a process that signs and verifies the same messages should share one); the
 * native one is the default because it is 20-40x faster (see bench/results/crypto.json).
 */
export function blsBackend(name: BlsBackendName | string = 'blst'): BlsBackend {
  switch (name) {
    case 'blst':
      return createBlstBackend();
    case 'noble':
      return createNobleBackend();
    default:
      throw new CryptoArgumentError(`unknown BLS backend ${JSON.stringify(name)}; expected one of ${BLS_BACKEND_NAMES.join(', ')}`);
  }
}
