/**
 * The identity directory kept as documents in an `ObjectStore` bucket, so it works on the embedded store and on
 * OCI Object Storage alike:
 *
 *   compartments/<compartmentId>.json   users/<tenancyId>/<userId>.json   instances/<instanceId>.json
 *   keys/<tenancyId>/<principalId>/<fingerprint>.json
 *
 * Found entries are cached briefly (every signed request looks up a key); misses are not cached, so a newly
 * registered instance or key works at once.
 */
import type {
  ApiKeyRecord,
  CompartmentRecord,
  IdentityDirectory,
  InstanceRecord,
  UserRecord,
} from '../ports/identity';
import type { Clock } from '../ports/clock';
import type { ObjectStore } from '../ports/object-store';
import { readDoc } from './documents';

const keys = {
  compartment: (id: string) => `compartments/${id}.json`,
  user: (tenancyId: string, userId: string) => `users/${tenancyId}/${userId}.json`,
  instance: (id: string) => `instances/${id}.json`,
  key: (tenancyId: string, principalId: string, fingerprint: string) =>
    `keys/${tenancyId}/${principalId}/${fingerprint.toLowerCase()}.json`,
};

const MAX_CACHE_ENTRIES = 10_000;

export class StoredIdentityDirectory implements IdentityDirectory {
  private readonly cache = new Map<string, { value: unknown; expiresAtMs: number }>();

  constructor(
    private readonly store: ObjectStore,
    private readonly options: { clock: Clock; cacheTtlMs?: number },
  ) {}

  getUser(tenancyId: string, userId: string): Promise<UserRecord | undefined> {
    return this.read<UserRecord>(keys.user(tenancyId, userId));
  }

  getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    return this.read<InstanceRecord>(keys.instance(instanceId));
  }

  getCompartment(compartmentId: string): Promise<CompartmentRecord | undefined> {
    return this.read<CompartmentRecord>(keys.compartment(compartmentId));
  }

  findKey(tenancyId: string, principalId: string, fingerprint: string): Promise<ApiKeyRecord | undefined> {
    return this.read<ApiKeyRecord>(keys.key(tenancyId, principalId, fingerprint));
  }

  async putCompartment(r: CompartmentRecord): Promise<void> {
    await this.write(keys.compartment(r.compartmentId), r);
  }

  async putUser(r: UserRecord): Promise<void> {
    await this.write(keys.user(r.tenancyId, r.userId), r);
  }

  async putInstance(r: InstanceRecord): Promise<void> {
    await this.write(keys.instance(r.instanceId), r);
  }

  async putKey(r: ApiKeyRecord): Promise<void> {
    await this.write(keys.key(r.tenancyId, r.principalId, r.fingerprint), r);
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const out: InstanceRecord[] = [];
    let start: string | undefined;
    do {
      const page = await this.store.list({ prefix: 'instances/', ...(start ? { start } : {}), limit: 1000 });
      for (const o of page.objects) {
        const found = await readDoc<InstanceRecord>(this.store, o.key);
        if (found) out.push(found.doc);
      }
      start = page.nextStartWith;
    } while (start);
    return out;
  }

  private async write(key: string, value: unknown): Promise<void> {
    await this.store.put(key, JSON.stringify(value), { contentType: 'application/json' });
    this.cache.delete(key);
  }

  private async read<T>(key: string): Promise<T | undefined> {
    const nowMs = this.options.clock.nowMs();
    const hit = this.cache.get(key);
    if (hit && hit.expiresAtMs > nowMs) return hit.value as T;
    const found = await readDoc<T>(this.store, key);
    if (found) {
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
      this.cache.set(key, { value: found.doc, expiresAtMs: nowMs + (this.options.cacheTtlMs ?? 5000) });
    }
    return found?.doc;
  }
}
