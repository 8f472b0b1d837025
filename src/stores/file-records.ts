import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CorruptRecordError, sha256 as checksum } from './corrupt-record-error.js';

/**
 * How long a lock counts once taken, in ms. A change holds its lock for a few file
 * operations; a holder on this machine that died is recognised at once by its pid, so
 * this bounds only a lock whose holder cannot be checked (another host on a shared disk).
 */
const LOCK_LEASE_MS = 10_000;
/** How long to try for a lock before failing, in ms. */
const LOCK_WAIT_MS = 5_000;
/** A lock file still empty after this long was left by a holder killed while creating it, in ms. */
const EMPTY_LOCK_MS = 1_000;

/** What a lock file says about its holder. */
interface LockHolder {
  readonly token: string;
  readonly pid: number;
  readonly host: string;
  readonly expiresAt: number;
}

const HOST = hostname();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/** The lock file's content and whether its holder is gone, or undefined when there is none. */
async function inspect(lock: string): Promise<{ raw: string; holder: LockHolder | undefined; stale: boolean } | undefined> {
  let raw: string;
  let age: number;
  try {
    [raw, age] = await Promise.all([readFile(lock, 'utf8'), stat(lock).then((s) => Date.now() - s.mtimeMs)]);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  let holder: LockHolder | undefined;
  try {
    holder = JSON.parse(raw) as LockHolder;
  } catch {
    return { raw, holder: undefined, stale: age > EMPTY_LOCK_MS };
  }
  const dead = holder.host === HOST && !alive(holder.pid);
  return { raw, holder, stale: dead || holder.expiresAt <= Date.now() };
}

/**
 * JSON records in a directory, one file per key, for the file stores.
 *
 * - Each change runs under a per-key lock file that names its holder (token, pid,
 *   host) and its expiry. A lock whose holder died (its pid is gone on this host) or
 *   whose lease ran out is taken over at once — by one process at a time, under a
 *   short-lived second lock — and the dead holder's temporary file removed with it.
 * - A change is written to a temporary file (named by the lock's token) and renamed
 *   into place, so a `kill -9` never leaves half a record.
 * - A record file is a checksum line (`sha256:<hex>`) and the record's JSON: a
 *   truncated, garbled or edited file, or a record of the wrong shape (`check`), is a
 *   {@link CorruptRecordError} naming the key and the file — never a silent answer.
 * - The first change a store makes also sweeps the directory, in the background, for
 *   locks (and their temporary files) left by dead processes on keys nobody touches again.
 * - The directory is made owner-only (0700) and records are written 0600.
 *
 * Records survive the process, not the machine: nothing is fsynced.
 */
export class FileRecords<T> {
  /**
   * @param directory where records live (created if missing)
   * @param check returns what is wrong with a parsed record, or undefined when it is one
   */
  constructor(
    private readonly directory: string,
    private readonly check: (value: unknown) => string | undefined,
  ) {}

  private swept = false;

  /** Takes over every stale lock in the directory (removing its holder's temporary file). */
  private async sweep(): Promise<void> {
    for (const name of await readdir(this.directory)) {
      if (!name.endsWith('.json.lock')) continue;
      const lock = join(this.directory, name);
      let held = await inspect(lock);
      // An empty lock may be one being written this instant: look again once it would be stale.
      if (held !== undefined && !held.stale && held.holder === undefined) {
        await new Promise((resolve) => setTimeout(resolve, EMPTY_LOCK_MS).unref());
        held = await inspect(lock);
      }
      if (held?.stale) await this.takeOver(lock.slice(0, -'.lock'.length), lock, held.raw, held.holder);
    }
  }

  /**
   * The record of `key`, if any.
   * @throws CorruptRecordError when the file is not a whole, well-formed record
   */
  read(key: string): Promise<T | undefined> {
    return this.readFile(this.fileOf(key), key);
  }

  /** The record in `file` (named `key` in errors), if the file exists. */
  private async readFile(file: string, key: string): Promise<T | undefined> {
    let content: string;
    try {
      content = await readFile(file, 'utf8');
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      throw error;
    }
    const newline = content.indexOf('\n');
    const header = newline < 0 ? content : content.slice(0, newline);
    if (!/^sha256:[0-9a-f]{64}$/.test(header)) {
      throw new CorruptRecordError(key, file, content.length === 0 ? 'empty file' : 'no checksum line (truncated or garbage)');
    }
    const body = content.slice(newline + 1);
    if (`sha256:${checksum(body)}` !== header) throw new CorruptRecordError(key, file, 'checksum mismatch (truncated or edited)');
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (error) {
      throw new CorruptRecordError(key, file, 'not JSON', { cause: error });
    }
    const problem = this.check(value);
    if (problem !== undefined) throw new CorruptRecordError(key, file, problem);
    return value as T;
  }

  /**
   * Applies `change` to the record of `key` under its lock: it returns the record to
   * write (`null` deletes, undefined leaves it as is) and the operation's answer.
   * @throws CorruptRecordError when the current record is corrupt (nothing is written)
   */
  async update<R>(key: string, change: (current: T | undefined) => [T | null | undefined, R]): Promise<R> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    if (!this.swept) {
      this.swept = true;
      this.sweep().catch(() => {});
    }
    const file = this.fileOf(key);
    const lock = `${file}.lock`;
    const token = await this.lock(file, lock);
    try {
      const [next, answer] = change(await this.read(key));
      if (next === null) await rm(file, { force: true });
      else if (next !== undefined) {
        const body = JSON.stringify(next);
        const temporary = `${file}.${token}.tmp`;
        await writeFile(temporary, `sha256:${checksum(body)}\n${body}`, { mode: 0o600 });
        await rename(temporary, file);
      }
      return answer;
    } finally {
      await this.unlock(lock, token);
    }
  }

  /**
   * Every record in the directory (none when it does not exist).
   * @throws CorruptRecordError when a file is not a whole, well-formed record
   */
  async list(): Promise<T[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return [];
      throw error;
    }
    const records: T[] = [];
    for (const name of names) {
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      const value = await this.readFile(join(this.directory, name), name.slice(0, -'.json'.length));
      if (value !== undefined) records.push(value);
    }
    return records;
  }

  /** The file of `key` (its SHA-256, so any string is a key). */
  fileOf(key: string): string {
    return join(this.directory, `${checksum(key)}.json`);
  }

  private async lock(file: string, lock: string): Promise<string> {
    const token = randomUUID();
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      const holder: LockHolder = { token, pid: process.pid, host: HOST, expiresAt: Date.now() + LOCK_LEASE_MS };
      try {
        await writeFile(lock, JSON.stringify(holder), { flag: 'wx', mode: 0o600 });
        return token;
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw error;
      }
      const held = await inspect(lock);
      if (held === undefined) continue;
      if (held.stale) {
        await this.takeOver(file, lock, held.raw, held.holder);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`Could not lock ${lock} within ${LOCK_WAIT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /**
   * Removes a stale lock (and its holder's temporary file) if it is still the one seen,
   * under a second lock so that two processes never both break it — one of them would
   * remove the lock the other has just taken.
   */
  private async takeOver(file: string, lock: string, seen: string, holder: LockHolder | undefined): Promise<void> {
    const breaker = `${lock}.break`;
    const me: LockHolder = { token: randomUUID(), pid: process.pid, host: HOST, expiresAt: Date.now() + EMPTY_LOCK_MS };
    try {
      await writeFile(breaker, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
      // Held for two file operations; a breaker that died doing it is removed.
      if ((await inspect(breaker))?.stale) await rm(breaker, { force: true });
      return;
    }
    try {
      const current = await readFile(lock, 'utf8').catch(() => undefined);
      if (current !== seen) return;
      if (holder !== undefined) await rm(`${file}.${holder.token}.tmp`, { force: true });
      await rm(lock, { force: true });
    } finally {
      await rm(breaker, { force: true });
    }
  }

  /** Removes the lock if it is still this holder's (one taken over from a too-slow holder is not). */
  private async unlock(lock: string, token: string): Promise<void> {
    try {
      const current = JSON.parse(await readFile(lock, 'utf8')) as LockHolder;
      if (current.token === token) await rm(lock, { force: true });
    } catch {
      // Gone or taken over already.
    }
  }
}
