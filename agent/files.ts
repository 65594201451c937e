/** Small file primitives for the agent's on-disk state: atomic writes, and quarantine of corrupt files. */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

const TEMP_SUFFIX = '.tmp';

export function ensureDir(dir: string, mode = 0o700): void {
  fs.mkdirSync(dir, { recursive: true, mode });
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Whether writes are flushed to the disk (fsync of the file and of its directory) before they count as done.
 *
 * Without it a write is still atomic (temp file + rename) and survives the agent being killed (the page cache
 * outlives the process); only a power loss or kernel crash can lose it. Run-once never depends on it: the server's
 * ack compare-and-swap decides who may start a script, and the stream is committed only after the local write, so a
 * lost record can strand a command (the sweeps then expire it or time it out) but never run it twice. Flushing costs
 * milliseconds per write on the command's critical path, so it is a choice (`syncWrites` in the agent config).
 */
export interface WriteOptions {
  sync: boolean;
}

/**
 * Writes `data` to `file` so that a crash at any point leaves either the old content or the new one: write a temp file
 * in the same directory, rename it over the target; with `sync`, fsync the file before and the directory after.
 */
export function writeFileAtomic(file: string, data: string, options: WriteOptions = { sync: true }, mode = 0o600): void {
  const dir = path.dirname(file);
  const temp = path.join(dir, `${tempPrefixOf(file)}${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
  const fd = fs.openSync(temp, 'w', mode);
  try {
    fs.writeSync(fd, data);
    if (options.sync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
  if (options.sync) fsyncDir(dir);
}

/** How `writeFileAtomic`'s temp files for `file` start (they end with TEMP_SUFFIX). */
const tempPrefixOf = (file: string): string => `.${path.basename(file)}.`;

/** Removes the temp files a crash in `writeFileAtomic(file)` left behind: never renamed into place, they hold nothing. */
export function removeStaleTempFiles(file: string): void {
  const dir = path.dirname(file);
  const prefix = tempPrefixOf(file);
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(prefix) && name.endsWith(TEMP_SUFFIX)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

export type ReadJsonResult = { ok: true; value: unknown } | { ok: false; missing: boolean; error: string };

export function readJsonFile(file: string): ReadJsonResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    return { ok: false, missing, error: (err as Error).message };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, missing: false, error: (err as Error).message };
  }
}

/**
 * Puts something unreadable into `corruptDir` as `<nowMs>-<name>` (by `place`, which writes or moves it there), keeping
 * at most `keep` entries (the oldest go first), so the agent can carry on and a human can look at it later.
 */
function setAside(corruptDir: string, name: string, keep: number, nowMs: number, place: (target: string) => void): string {
  ensureDir(corruptDir);
  const target = path.join(corruptDir, `${nowMs}-${name.replace(/[^\w.-]/g, '_')}`);
  place(target);
  const names = fs.readdirSync(corruptDir).sort();
  for (const old of names.slice(0, Math.max(0, names.length - keep))) fs.rmSync(path.join(corruptDir, old), { force: true });
  return target;
}

/** Moves an unreadable file into `corruptDir` (named after its dir and itself); returns where it went. */
export function quarantineFile(file: string, corruptDir: string, keep: number, nowMs: number): string {
  return setAside(corruptDir, `${path.basename(path.dirname(file))}-${path.basename(file)}`, keep, nowMs, (target) => fs.renameSync(file, target));
}

/** Writes `data` that could not be used into `corruptDir` as a file named after `name`; returns its path. */
export function quarantineData(data: string, name: string, corruptDir: string, keep: number, nowMs: number): string {
  return setAside(corruptDir, name, keep, nowMs, (target) => fs.writeFileSync(target, data, { mode: 0o600 }));
}
