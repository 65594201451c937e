/**
 * One group commit per database connection, shared by the embedded Object Storage and Streams on it: the writes
 * queued in one tick (a caller's `Promise.all` of puts, or an execution's event and its index delete) share one
 * IMMEDIATE transaction, so one WAL commit instead of one each.
 *
 * Commits cost more than their own pages here: in WAL mode, SQLite drops a connection's whole page cache when another
 * connection has committed since its last transaction, so every commit by one process makes the next transaction of
 * every other process read its pages again.
 *
 * Each write runs in its own savepoint: a write that throws undoes only itself and rejects only its own caller. When
 * the transaction itself fails (the database is busy past its timeout, say), every write of the batch rejects with
 * that error, untranslated: each caller maps it to its own port's error.
 */
import type { Database } from './database';

type WriteResult = { ok: true; value: unknown } | { ok: false; error: unknown };

interface QueuedWrite {
  write: () => unknown;
  settle: (result: WriteResult) => void;
}

const byDatabase = new WeakMap<Database, GroupCommit>();

export class GroupCommit {
  private readonly queued: QueuedWrite[] = [];

  private constructor(private readonly db: Database) {}

  /** The group commit of `db`, shared by every adapter on that connection. */
  static of(db: Database): GroupCommit {
    let group = byDatabase.get(db);
    if (!group) {
      group = new GroupCommit(db);
      byDatabase.set(db, group);
    }
    return group;
  }

  /** Runs `write` (synchronous SQL) in the next group commit; resolves once that commit is done. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ write, settle: (r) => (r.ok ? resolve(r.value as T) : reject(r.error)) });
      if (this.queued.length === 1) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queued.splice(0);
    let results: WriteResult[];
    try {
      results = this.db
        .transaction(() =>
          batch.map((item): WriteResult => {
            try {
              return { ok: true, value: this.db.transaction(item.write)() };
            } catch (error) {
              return { ok: false, error };
            }
          }),
        )
        .immediate();
    } catch (error) {
      results = batch.map(() => ({ ok: false, error }));
    }
    batch.forEach((item, i) => item.settle(results[i] as WriteResult));
  }
}
