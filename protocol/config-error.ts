/**
 * Configuration failures. `vsmr start` prints `err.message` and exits, so every message is
 * one line that names the file (when there is one) and the field, e.g.
 * `/srv/genesis.json: genesis.validators[2].proofOfPossession: proof of possession does not verify`.
 */
export class ConfigError extends Error {
  readonly code = 'CONFIG';

  constructor(
    /** Dotted path of the offending field (`genesis.validators[2].peerId`); undefined for whole-file problems. */
    readonly field: string | undefined,
    /** What is wrong, without the file and field. */
    readonly reason: string,
    /** The file the value came from, when it came from one. */
    readonly file?: string,
  ) {
    super(oneLine([file, field, reason].filter((s) => s !== undefined && s !== '').join(': ')));
    this.name = 'ConfigError';
  }

  /** The same error attributed to `file` (parsers do not know where their input came from). */
  inFile(file: string): ConfigError {
    return this.file === undefined ? new ConfigError(this.field, this.reason, file) : this;
  }
}

/** Operators see the message on a terminal or in a log line; a newline would split it. */
function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
