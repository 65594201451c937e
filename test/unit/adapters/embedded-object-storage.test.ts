import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { openDatabase, type Database } from '../../../shared/adapters/embedded/database';
import { EmbeddedObjectStorage, INLINE_BODY_MAX_BYTES } from '../../../shared/adapters/embedded/object-storage';
import { ObjectStoreError, ObjectStoreUnavailableError, PreconditionFailedError } from '../../../shared/ports/object-store';

const clock = { nowMs: () => Date.parse('2024-05-01T12:00:00Z') };
const MIB = 1024 * 1024;

/** A deterministic body of `size` bytes, generated in 64 KiB chunks as it is read, and its sha256. */
function generatedBody(size: number): { stream: Readable; sha256: string } {
  const block = randomBytes(64 * 1024);
  function* chunks(): Generator<Buffer> {
    for (let offset = 0, n = 0; offset < size; offset += block.length, n++) {
      const chunk = Buffer.from(block.subarray(0, Math.min(block.length, size - offset)));
      chunk.writeUInt32BE(n, 0);
      yield chunk;
    }
  }
  const hash = createHash('sha256');
  for (const chunk of chunks()) hash.update(chunk);
  return { stream: Readable.from(chunks()), sha256: hash.digest('hex') };
}

async function sha256Of(body: NodeJS.ReadableStream): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hash.update(bytes);
    size += bytes.length;
  }
  return { sha256: hash.digest('hex'), size };
}

describe('EmbeddedObjectStorage', () => {
  let dir: string;
  let blobDir: string;
  let db: Database;
  let storage: EmbeddedObjectStorage;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'runcommand-objects-'));
    blobDir = path.join(dir, 'blobs');
    db = openDatabase(path.join(dir, 'platform.db'));
    storage = new EmbeddedObjectStorage(db, { clock, blobDir });
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const blobFiles = () => readdirSync(blobDir);

  describe('putStream and getStream', () => {
    it('round-trips a 20 MB body byte for byte through a blob file, and removes the file on delete', async () => {
      const body = generatedBody(20 * MIB);
      const put = await storage.putStream('ns', 'outputs', 'cmd/1/output', body.stream, {
        contentLength: 20 * MIB,
        contentType: 'application/octet-stream',
        metadata: { stream: 'stdout' },
      });
      expect(put.size).toBe(20 * MIB);
      expect(blobFiles()).toHaveLength(1);

      const got = await storage.getStream('ns', 'outputs', 'cmd/1/output');
      expect(got?.info).toMatchObject({
        key: 'cmd/1/output',
        etag: put.etag,
        size: 20 * MIB,
        contentType: 'application/octet-stream',
        md5Base64: put.md5Base64,
        metadata: { stream: 'stdout' },
      });
      expect(await sha256Of(got?.body as NodeJS.ReadableStream)).toEqual({ sha256: body.sha256, size: 20 * MIB });

      await expect(storage.delete('ns', 'outputs', 'cmd/1/output')).resolves.toBe(true);
      expect(blobFiles()).toEqual([]);
      await expect(storage.getStream('ns', 'outputs', 'cmd/1/output')).resolves.toBeUndefined();
    });

    it('reports the MD5 of the body in base64, as opc-content-md5 does', async () => {
      const body = Buffer.from('hello world');
      const put = await storage.putStream('ns', 'b', 'k', Readable.from([body]));
      expect(put.md5Base64).toBe(createHash('md5').update(body).digest('base64'));
      expect((await storage.head('ns', 'b', 'k'))?.md5Base64).toBe(put.md5Base64);
    });

    it('keeps a body of up to 256 KiB in its row, and a larger one in a file', async () => {
      await storage.putStream('ns', 'b', 'small', Readable.from([Buffer.alloc(INLINE_BODY_MAX_BYTES, 1)]));
      expect(blobFiles()).toEqual([]);
      await storage.putStream('ns', 'b', 'large', Readable.from([Buffer.alloc(INLINE_BODY_MAX_BYTES + 1, 1)]));
      expect(blobFiles()).toHaveLength(1);
      expect((await storage.get('ns', 'b', 'large'))?.body.equals(Buffer.alloc(INLINE_BODY_MAX_BYTES + 1, 1))).toBe(
        true,
      );
    });

    it('removes the previous blob after an overwrite, and serves the new body', async () => {
      const first = Buffer.alloc(300 * 1024, 1);
      const second = Buffer.alloc(400 * 1024, 2);
      const { etag } = await storage.put('ns', 'b', 'k', first);
      const [before] = blobFiles();
      await storage.putStream('ns', 'b', 'k', Readable.from([second]), { ifMatch: etag });
      expect(blobFiles()).toHaveLength(1);
      expect(blobFiles()).not.toContain(before);
      expect((await storage.get('ns', 'b', 'k'))?.body.equals(second)).toBe(true);
      await storage.put('ns', 'b', 'k', 'now small');
      expect(blobFiles()).toEqual([]);
    });

    it('keeps serving a body already opened when the object is deleted meanwhile', async () => {
      const body = Buffer.alloc(2 * MIB, 7);
      await storage.put('ns', 'b', 'k', body);
      const got = await storage.getStream('ns', 'b', 'k');
      await storage.delete('ns', 'b', 'k');
      expect(blobFiles()).toEqual([]);
      expect(await sha256Of(got?.body as NodeJS.ReadableStream)).toEqual({
        sha256: createHash('sha256').update(body).digest('hex'),
        size: body.length,
      });
    });

    it('fails a create-only put on an existing key before reading the body', async () => {
      await storage.put('ns', 'b', 'k', 'first');
      const body = Readable.from([Buffer.alloc(MIB)]);
      await expect(storage.putStream('ns', 'b', 'k', body, { ifNoneMatch: '*' })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
      expect(body.readableEnded).toBe(false);
      expect((await storage.get('ns', 'b', 'k'))?.body.toString()).toBe('first');
    });

    it('removes its new blob when another writer creates the key while the body streams in', async () => {
      async function* slowBody() {
        yield Buffer.alloc(300 * 1024, 1);
        await storage.put('ns', 'b', 'k', 'the other writer won');
        yield Buffer.alloc(300 * 1024, 2);
      }
      await expect(
        storage.putStream('ns', 'b', 'k', Readable.from(slowBody()), { ifNoneMatch: '*' }),
      ).rejects.toMatchObject({ condition: 'ifNoneMatch' });
      expect(blobFiles()).toEqual([]);
      expect((await storage.get('ns', 'b', 'k'))?.body.toString()).toBe('the other writer won');
    });

    it('rejects a body shorter than its content length and stores nothing', async () => {
      const attempt = storage.putStream('ns', 'b', 'k', Readable.from([Buffer.alloc(500 * 1024)]), {
        contentLength: 600 * 1024,
      });
      await expect(attempt).rejects.toBeInstanceOf(ObjectStoreError);
      expect(blobFiles()).toEqual([]);
      await expect(storage.head('ns', 'b', 'k')).resolves.toBeUndefined();
    });

    it('removes the partial blob when the body stream fails', async () => {
      async function* failing() {
        yield Buffer.alloc(300 * 1024, 1);
        throw new Error('client went away');
      }
      await expect(storage.putStream('ns', 'b', 'k', Readable.from(failing()))).rejects.toThrow('client went away');
      expect(blobFiles()).toEqual([]);
    });

    it('answers undefined for a missing object', async () => {
      await expect(storage.getStream('ns', 'b', 'missing')).resolves.toBeUndefined();
    });

    it('keeps every body inline when there is no blobDir', async () => {
      const inlineOnly = new EmbeddedObjectStorage(db, { clock });
      const body = Buffer.alloc(MIB, 3);
      await inlineOnly.putStream('ns', 'inline', 'k', Readable.from([body]));
      expect(blobFiles()).toEqual([]);
      expect((await inlineOnly.get('ns', 'inline', 'k'))?.body.equals(body)).toBe(true);
    });
  });

  describe('buckets', () => {
    it('keeps namespaces and buckets apart, and counts objects by prefix', async () => {
      await storage.bucket('ns', 'one').put('a/1', 'x');
      await storage.bucket('ns', 'one').put('a/2', 'x');
      await storage.bucket('ns', 'one').put('b/1', 'x');
      await storage.bucket('ns', 'two').put('a/1', 'y');
      await storage.bucket('other', 'one').put('a/1', 'z');
      expect(storage.countObjects('ns', 'one')).toBe(3);
      expect(storage.countObjects('ns', 'one', 'a/')).toBe(2);
      expect(storage.countObjects('ns', 'two')).toBe(1);
      expect((await storage.bucket('other', 'one').get('a/1'))?.body.toString()).toBe('z');
      expect((await storage.bucket('ns', 'one').list({ limit: 10 })).objects.map((o) => o.key)).toEqual([
        'a/1',
        'a/2',
        'b/1',
      ]);
    });

    it('clamps a list limit to 1000', async () => {
      const bucket = storage.bucket('ns', 'many');
      for (let i = 0; i < 1001; i++) await bucket.put(`k/${String(i).padStart(4, '0')}`, '');
      const page = await bucket.list({ limit: 5000 });
      expect(page.objects).toHaveLength(1000);
      expect(page.nextStartWith).toBe('k/1000');
    });

    it('stamps the time of the write from the injected clock', async () => {
      await storage.bucket('ns', 'b').put('k', 'v');
      expect((await storage.bucket('ns', 'b').head('k'))?.timeModified).toBe('2024-05-01T12:00:00.000Z');
    });

    it('uses the injected etag generator', async () => {
      let n = 0;
      const withEtags = new EmbeddedObjectStorage(db, { clock, newEtag: () => `etag-${++n}` });
      await expect(withEtags.bucket('ns', 'b').put('k', 'v')).resolves.toEqual({ etag: 'etag-1' });
    });
  });

  describe('group commit', () => {
    /** Frames in the write-ahead log: each commit appends one per page it changed. */
    const walFrames = () => {
      db.pragma('wal_checkpoint(TRUNCATE)');
      return () => {
        const size = statSync(path.join(dir, 'platform.db-wal')).size;
        return (size - 32) / (24 + (db.pragma('page_size', { simple: true }) as number));
      };
    };

    it('commits puts issued together in one transaction: one WAL commit, not one per object', async () => {
      const frames = walFrames();
      await Promise.all(Array.from({ length: 20 }, (_, i) => storage.put('ns', 'b', `idx/${String(i).padStart(3, '0')}`, '')));
      expect(storage.countObjects('ns', 'b', 'idx/')).toBe(20);
      // Twenty single-row commits to the same page append at least twenty frames.
      expect(frames()).toBeLessThan(5);

      const one = walFrames();
      for (let i = 0; i < 3; i++) await storage.put('ns', 'b', `seq/${i}`, '');
      expect(one()).toBeGreaterThanOrEqual(3);
    });

    it('fails only the write whose precondition fails; the others in its batch are stored', async () => {
      await storage.put('ns', 'b', 'taken', 'first');
      const results = await Promise.allSettled([
        storage.put('ns', 'b', 'a', 'A'),
        storage.put('ns', 'b', 'taken', 'second', { ifNoneMatch: '*' }),
        storage.put('ns', 'b', 'missing', 'M', { ifMatch: 'no-such-etag' }),
        storage.put('ns', 'b', 'c', 'C'),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(PreconditionFailedError);
      expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(PreconditionFailedError);
      expect((await storage.get('ns', 'b', 'a'))?.body.toString()).toBe('A');
      expect((await storage.get('ns', 'b', 'c'))?.body.toString()).toBe('C');
      expect((await storage.get('ns', 'b', 'taken'))?.body.toString()).toBe('first');
      // The ifMatch write to a missing key inserted a row before its check failed: its savepoint undid it.
      expect(await storage.get('ns', 'b', 'missing')).toBeUndefined();
    });

    it('rejects every write of a batch when the database cannot be written', async () => {
      const other = openDatabase(path.join(dir, 'platform.db'), { busyTimeoutMs: 0 });
      const blocked = openDatabase(path.join(dir, 'platform.db'), { busyTimeoutMs: 0 });
      const storageBlocked = new EmbeddedObjectStorage(blocked, { clock });
      other.prepare('BEGIN IMMEDIATE').run();
      try {
        const results = await Promise.allSettled([storageBlocked.put('ns', 'b', 'x', '1'), storageBlocked.put('ns', 'b', 'y', '2')]);
        expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
        for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ObjectStoreUnavailableError);
      } finally {
        other.prepare('ROLLBACK').run();
        other.close();
        blocked.close();
      }
      expect(await storage.get('ns', 'b', 'x')).toBeUndefined();
    });
  });

  describe('two connections to one file (two processes)', () => {
    it('sees the other connection’s writes and loses a compare-and-swap to it', async () => {
      const otherDb = openDatabase(path.join(dir, 'platform.db'));
      try {
        const mine = storage.bucket('ns', 'state');
        const theirs = new EmbeddedObjectStorage(otherDb, { clock, blobDir }).bucket('ns', 'state');
        const { etag } = await mine.put('doc', 'v1');
        expect((await theirs.get('doc'))?.etag).toBe(etag);
        await theirs.put('doc', 'theirs', { ifMatch: etag });
        await expect(mine.put('doc', 'mine', { ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailedError);
        await expect(mine.put('doc', 'mine', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
        expect((await mine.get('doc'))?.body.toString()).toBe('theirs');
      } finally {
        otherDb.close();
      }
    });
  });
});
