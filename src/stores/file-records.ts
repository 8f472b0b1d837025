import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A lock older than this is taken to be left by a killed process, in ms. */
const STALE_LOCK_MS = 10_000;
/** How long to try for a lock before failing, in ms. */
const LOCK_WAIT_MS = 5_000;

/**
 * JSON records in a directory, one file per key, for the file stores: each change runs
 * under a per-key lock directory (`mkdir` is atomic; a lock older than 10 s is taken to
 * be a killed holder's) and is written to a temporary file renamed into place, so a
 * `kill -9` never leaves half a record.
 */
export class FileRecords<T> {
  constructor(private readonly directory: string) {}

  /** The record of `key`, if any. */
  async read(key: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.fileOf(key), 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /**
   * Applies `change` to the record of `key` under its lock: it returns the record to
   * write (`null` deletes, undefined leaves it as is) and the operation's answer.
   */
  async update<R>(key: string, change: (current: T | undefined) => [T | null | undefined, R]): Promise<R> {
    await mkdir(this.directory, { recursive: true });
    const file = this.fileOf(key);
    const lock = `${file}.lock`;
    await this.lock(lock);
    try {
      const [next, answer] = change(await this.read(key));
      if (next === null) await rm(file, { force: true });
      else if (next !== undefined) {
        const temporary = `${file}.${randomUUID()}.tmp`;
        await writeFile(temporary, JSON.stringify(next));
        await rename(temporary, file);
      }
      return answer;
    } finally {
      await rmdir(lock).catch(() => {});
    }
  }

  private fileOf(key: string): string {
    return join(this.directory, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  private async lock(lock: string): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      try {
        await mkdir(lock);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const held = await stat(lock).catch(() => undefined);
      if (held !== undefined && Date.now() - held.mtimeMs > STALE_LOCK_MS) {
        await rmdir(lock).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new Error(`Could not lock ${lock} within ${LOCK_WAIT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
