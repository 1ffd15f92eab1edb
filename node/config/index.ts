export * from '../../protocol/config-error.js';
export * from '../../protocol/genesis.js';
export * from './keys.js';
export * from './node-config.js';
