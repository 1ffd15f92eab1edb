export * from './bitmap.js';
export * from './codec.js';
export * from './multisig.js';
export * from './quorum.js';
export * from './threshold.js';
export * from './types.js';
export * from './validator-set.js';
export * from './verified-cache.js';
