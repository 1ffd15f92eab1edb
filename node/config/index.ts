export * from './errors.js';
export * from './genesis.js';
export * from './keys.js';
export * from './node-config.js';
