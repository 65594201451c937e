/**
 * The `ObjectStore` contract: what every adapter (in-memory, embedded SQLite, OCI SDK against the emulator) must do.
 * Uses only the port. `make` must return an empty store each time.
 */
import { PreconditionFailedError, type ObjectStore } from '../../shared/ports/object-store';

export interface ObjectStoreFixture {
  store: ObjectStore;
  close?: () => Promise<void>;
}

export function objectStoreContract(name: string, make: () => Promise<ObjectStoreFixture>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let fixture: ObjectStoreFixture;
    let store: ObjectStore;

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.close?.();
    });

    async function listAll(options: { prefix?: string; start?: string; end?: string; limit: number }) {
      const keys: string[] = [];
      let start = options.start;
      for (let page = 0; page < 100; page++) {
        const result = await store.list({ ...options, ...(start === undefined ? {} : { start }) });
        expect(result.objects.length).toBeLessThanOrEqual(options.limit);
        keys.push(...result.objects.map((o) => o.key));
        if (result.nextStartWith === undefined) return keys;
        start = result.nextStartWith;
      }
      throw new Error('listing did not end within 100 pages');
    }

    describe('reads and writes', () => {
      it('answers undefined for a missing object', async () => {
        await expect(store.get('missing')).resolves.toBeUndefined();
        await expect(store.head('missing')).resolves.toBeUndefined();
      });

      it('round-trips a binary body byte for byte with its size and etag', async () => {
        const body = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 10, 13]);
        const { etag } = await store.put('bin/object', body);
        const got = await store.get('bin/object');
        expect(got?.body.equals(body)).toBe(true);
        expect(got?.size).toBe(body.length);
        expect(got?.etag).toBe(etag);
        expect(got?.key).toBe('bin/object');
        expect(Number.isNaN(Date.parse(got?.timeModified ?? ''))).toBe(false);
      });

      it('stores a string body as UTF-8', async () => {
        await store.put('text', 'héllo ✓');
        const got = await store.get('text');
        expect(got?.body.toString('utf8')).toBe('héllo ✓');
        expect(got?.size).toBe(Buffer.byteLength('héllo ✓'));
      });

      it('stores an empty body', async () => {
        await store.put('empty', '');
        const got = await store.get('empty');
        expect(got?.size).toBe(0);
        expect(got?.body.length).toBe(0);
      });

      it('gives every write a new etag', async () => {
        const first = await store.put('k', 'one');
        const second = await store.put('k', 'two');
        expect(second.etag).not.toBe(first.etag);
        expect((await store.head('k'))?.etag).toBe(second.etag);
        expect((await store.get('k'))?.body.toString()).toBe('two');
      });

      it('round-trips metadata through head and get, and replaces it on overwrite', async () => {
        // No empty values: the OCI SDK (oci-common computeHeaders) drops empty header values, so OCI never sees them.
        const metadata = { state: 'SUCCEEDED', 'execution-id': 'ocid1.x..abc' };
        await store.put('meta', '{}', { metadata, contentType: 'application/json' });
        expect((await store.head('meta'))?.metadata).toEqual(metadata);
        expect((await store.get('meta'))?.metadata).toEqual(metadata);
        await store.put('meta', '{}', { metadata: { state: 'FAILED' } });
        expect((await store.head('meta'))?.metadata).toEqual({ state: 'FAILED' });
        await store.put('meta', '{}');
        expect((await store.head('meta'))?.metadata).toEqual({});
      });

      it('keeps keys with slashes, spaces and non-ASCII characters apart', async () => {
        const keys = ['a/b c', 'a/b%20c', 'ключ/значение', 'emoji/😀', 'a//b'];
        for (const key of keys) await store.put(key, `body of ${key}`);
        for (const key of keys) expect((await store.get(key))?.body.toString()).toBe(`body of ${key}`);
      });
    });

    describe('create-only writes (ifNoneMatch *)', () => {
      it('creates a missing object', async () => {
        const { etag } = await store.put('new', 'v1', { ifNoneMatch: '*' });
        expect((await store.head('new'))?.etag).toBe(etag);
      });

      it('refuses to replace an existing object and leaves it unchanged', async () => {
        const { etag } = await store.put('taken', 'original');
        const attempt = store.put('taken', 'intruder', { ifNoneMatch: '*' });
        await expect(attempt).rejects.toBeInstanceOf(PreconditionFailedError);
        await expect(attempt).rejects.toMatchObject({ key: 'taken', condition: 'ifNoneMatch' });
        const got = await store.get('taken');
        expect(got?.etag).toBe(etag);
        expect(got?.body.toString()).toBe('original');
      });

      it('lets exactly one of 20 concurrent creates of one key win', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => store.put('race', `writer ${i}`, { ifNoneMatch: '*' })),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, etag: r.value.etag }] : []));
        const losers = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(19);
        for (const reason of losers) expect(reason).toBeInstanceOf(PreconditionFailedError);
        const got = await store.get('race');
        expect(got?.etag).toBe(winners[0]?.etag);
        expect(got?.body.toString()).toBe(`writer ${winners[0]?.i}`);
      });
    });

    describe('compare-and-swap writes (ifMatch)', () => {
      it('updates when the etag is current', async () => {
        const { etag } = await store.put('doc', 'v1');
        const next = await store.put('doc', 'v2', { ifMatch: etag });
        expect((await store.get('doc'))?.body.toString()).toBe('v2');
        expect(next.etag).not.toBe(etag);
      });

      it('refuses a stale etag (no lost update between two writers that read the same version)', async () => {
        const { etag } = await store.put('doc', 'v1');
        const [a, b] = await Promise.allSettled([
          store.put('doc', 'writer a', { ifMatch: etag }),
          store.put('doc', 'writer b', { ifMatch: etag }),
        ]);
        const outcomes = [a, b].map((r) => r?.status).sort();
        expect(outcomes).toEqual(['fulfilled', 'rejected']);
        const loser = [a, b].find((r) => r?.status === 'rejected') as PromiseRejectedResult;
        expect(loser.reason).toBeInstanceOf(PreconditionFailedError);
        expect(loser.reason).toMatchObject({ key: 'doc', condition: 'ifMatch' });
        const winner = [a, b].find((r) => r?.status === 'fulfilled') as PromiseFulfilledResult<{ etag: string }>;
        expect((await store.head('doc'))?.etag).toBe(winner.value.etag);
      });

      it('refuses an ifMatch write to a missing object', async () => {
        await expect(store.put('ghost', 'v', { ifMatch: 'some-etag' })).rejects.toBeInstanceOf(PreconditionFailedError);
        await expect(store.head('ghost')).resolves.toBeUndefined();
      });
    });

    describe('delete', () => {
      it('deletes an object and reports whether there was one', async () => {
        await store.put('gone', 'v');
        await expect(store.delete('gone')).resolves.toBe(true);
        await expect(store.get('gone')).resolves.toBeUndefined();
        await expect(store.delete('gone')).resolves.toBe(false);
      });

      it('deletes with the current etag', async () => {
        const { etag } = await store.put('gone', 'v');
        await expect(store.delete('gone', { ifMatch: etag })).resolves.toBe(true);
        await expect(store.head('gone')).resolves.toBeUndefined();
      });

      it('refuses a delete with a stale etag and keeps the object', async () => {
        const { etag: stale } = await store.put('kept', 'v1');
        const { etag: current } = await store.put('kept', 'v2');
        await expect(store.delete('kept', { ifMatch: stale })).rejects.toBeInstanceOf(PreconditionFailedError);
        expect((await store.head('kept'))?.etag).toBe(current);
      });

      it('lets a key be created again after a delete', async () => {
        await store.put('again', 'v1');
        await store.delete('again');
        await store.put('again', 'v2', { ifNoneMatch: '*' });
        expect((await store.get('again'))?.body.toString()).toBe('v2');
      });
    });

    describe('list', () => {
      // In UTF-8 byte order: ASCII < U+00E9 (C3 A9) < U+FFFD (EF BF BD) < U+1F600 (F0 9F 98 80). JavaScript's UTF-16
      // order would put the emoji (a surrogate pair, D83D...) before U+FFFD.
      const utf8Ordered = ['A', 'Z', 'a', 'a/', 'a/b', 'a0', 'b', 'é', '\uFFFD', '😀'];

      it('lists keys in UTF-8 byte order with their etag, size and time', async () => {
        const etags = new Map<string, string>();
        for (const key of [...utf8Ordered].reverse()) etags.set(key, (await store.put(key, `v-${key}`)).etag);
        const result = await store.list({ limit: 100 });
        expect(result.objects.map((o) => o.key)).toEqual(utf8Ordered);
        expect(result.nextStartWith).toBeUndefined();
        for (const object of result.objects) {
          expect(object.etag).toBe(etags.get(object.key));
          expect(object.size).toBe(Buffer.byteLength(`v-${object.key}`));
          expect(Number.isNaN(Date.parse(object.timeModified))).toBe(false);
        }
      });

      it('lists only keys under a prefix', async () => {
        for (const key of ['cmd/1/state', 'cmd/1/output', 'cmd/10/state', 'cmd/2/state', 'cmd', 'cmc/x', 'cmd0']) {
          await store.put(key, 'v');
        }
        expect((await store.list({ prefix: 'cmd/1', limit: 100 })).objects.map((o) => o.key)).toEqual([
          'cmd/1/output',
          'cmd/1/state',
          'cmd/10/state',
        ]);
        expect((await store.list({ prefix: 'cmd/1/', limit: 100 })).objects.map((o) => o.key)).toEqual([
          'cmd/1/output',
          'cmd/1/state',
        ]);
        expect((await store.list({ prefix: 'nothing/', limit: 100 })).objects).toEqual([]);
      });

      it('lists a non-ASCII prefix in byte order', async () => {
        for (const key of ['é/2', 'é/1', 'é/😀', 'é/\uFFFD', 'ê/1', 'e/1']) await store.put(key, 'v');
        expect((await store.list({ prefix: 'é/', limit: 100 })).objects.map((o) => o.key)).toEqual([
          'é/1',
          'é/2',
          'é/\uFFFD',
          'é/😀',
        ]);
      });

      it('pages with nextStartWith until every key was listed exactly once', async () => {
        const keys = Array.from({ length: 11 }, (_, i) => `page/${String(i).padStart(2, '0')}`);
        for (const key of keys) await store.put(key, 'v');
        await store.put('pagf', 'outside the prefix');
        const first = await store.list({ prefix: 'page/', limit: 4 });
        expect(first.objects.map((o) => o.key)).toEqual(keys.slice(0, 4));
        expect(first.nextStartWith).toBe(keys[4]);
        expect(await listAll({ prefix: 'page/', limit: 4 })).toEqual(keys);
        expect(await listAll({ prefix: 'page/', limit: 11 })).toEqual(keys);
      });

      it('treats start as inclusive and end as exclusive', async () => {
        for (const key of ['k1', 'k2', 'k3', 'k4', 'k5']) await store.put(key, 'v');
        expect((await store.list({ start: 'k2', end: 'k4', limit: 100 })).objects.map((o) => o.key)).toEqual([
          'k2',
          'k3',
        ]);
        expect((await store.list({ start: 'k2a', limit: 100 })).objects.map((o) => o.key)).toEqual(['k3', 'k4', 'k5']);
        expect((await store.list({ end: 'k2', limit: 100 })).objects.map((o) => o.key)).toEqual(['k1']);
        expect((await store.list({ start: 'k4', end: 'k2', limit: 100 })).objects).toEqual([]);
      });

      it('combines a prefix with start and end bounds and pages within them', async () => {
        for (const key of ['p/a', 'p/b', 'p/c', 'p/d', 'p/e', 'q/a']) await store.put(key, 'v');
        expect(await listAll({ prefix: 'p/', start: 'p/b', end: 'p/e', limit: 2 })).toEqual(['p/b', 'p/c', 'p/d']);
        expect(await listAll({ prefix: 'p/', start: 'a', limit: 2 })).toEqual(['p/a', 'p/b', 'p/c', 'p/d', 'p/e']);
        expect(await listAll({ prefix: 'p/', end: 'z', limit: 2 })).toEqual(['p/a', 'p/b', 'p/c', 'p/d', 'p/e']);
      });

      it('no longer lists a deleted object', async () => {
        await store.put('x/1', 'v');
        await store.put('x/2', 'v');
        await store.delete('x/1');
        expect((await store.list({ prefix: 'x/', limit: 10 })).objects.map((o) => o.key)).toEqual(['x/2']);
      });
    });
  });
}
