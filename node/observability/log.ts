import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

/** JSON lines on stdout (or a given destination), one logger per node with its identity bound. */
export function createLogger(opts: { level: string; chainId: string; validator: number; destination?: NodeJS.WritableStream }): Logger {
  const options: LoggerOptions = { level: opts.level, base: { chainId: opts.chainId, validator: opts.validator } };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
