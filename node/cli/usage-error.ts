import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../../protocol/config-error.js';
import { FileExistsError } from '../config/keys.js';
import { makeDirectories } from '../storage/directories.js';

/**
 * A usage problem (a flag's value, a path given on the command line). An action throws it and
 * the CLI's entry (main.ts) prints `vsmr <command>: <message>`, one line, with exit 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * What ends a command as a usage failure (exit 2): a UsageError, a ConfigError (a config,
 * genesis or key file the operator gave) or a FileExistsError (an output that would overwrite).
 */
export function isUsageFailure(err: unknown): err is UsageError | ConfigError | FileExistsError {
  return err instanceof UsageError || err instanceof ConfigError || err instanceof FileExistsError;
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a file is in the way',
  EEXIST: 'a file is in the way',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
};

/**
 * Creates the directory a flag names (mkdir -p). The file system's refusal is the operator's to
 * mend, not a fault of the program, so it becomes a UsageError naming the flag and the level that
 * could not be made.
 */
export function makeFlagDirectory(flag: string, path: string, mode?: number): void {
  makeDirectoryFor(flag, path, path, mode);
}

/** Creates the directory that will hold the file a flag names; a refusal names the flag and the file. */
export function makeFlagFileDirectory(flag: string, file: string, mode?: number): void {
  makeDirectoryFor(flag, file, dirname(file), mode);
}

function makeDirectoryFor(flag: string, given: string, dir: string, mode: number | undefined): void {
  try {
    makeDirectories(dir, mode);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code !== 'string') throw err;
    throw new UsageError(`${flag} ${given}: cannot create directory ${e.path ?? dir}: ${REASONS[e.code] ?? e.code}`);
  }
}

/**
 * Refuses, before any work is done, a file a flag names for output that could not be written:
 * a directory, or a file whose directory does not exist. A command that fetches first and
 * writes last would otherwise fail only after its work.
 */
export function checkFlagOutputFile(flag: string, file: string): void {
  const existing = statSync(file, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new UsageError(`${flag} ${file}: is a directory, expected a file`);
  const parent = dirname(file);
  const info = statSync(parent, { throwIfNoEntry: false });
  if (info === undefined) throw new UsageError(`${flag} ${file}: no directory ${parent}`);
  if (!info.isDirectory()) throw new UsageError(`${flag} ${file}: ${parent} is not a directory`);
  const target = existing === undefined ? parent : file;
  try {
    accessSync(target, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
    throw new UsageError(`${flag} ${file}: cannot write ${target}: ${REASONS[code] ?? code}`);
  }
}
