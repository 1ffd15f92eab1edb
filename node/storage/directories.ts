import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p`, bounded by the path's depth. Node's recursive mkdir never returns for a path
 * under /proc (the kernel answers ENOENT for the new name under a directory that exists, and
 * Node goes back up to the parent, finds it, and tries again, at 100% CPU): `vsmr keygen --out
 * /proc/x/k.json` hung instead of failing. This walks up to the nearest existing ancestor once,
 * then creates each missing level once, and throws the first refusal as the system gave it.
 */
export function makeDirectories(path: string, mode?: number): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    const info = statSync(p, { throwIfNoEntry: false });
    if (info !== undefined) {
      if (!info.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p, syscall: 'mkdir' });
      break;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, mode === undefined ? undefined : { mode });
    } catch (err) {
      // Made meanwhile by someone else: what matters is that it is a directory now.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) throw err;
    }
  }
}
