/**
 * Who may do what with a bucket of the platform's Object Storage endpoint:
 * - users act on buckets in compartments they may use (every operation);
 * - an instance may read (GET/HEAD) and write (PUT) objects in buckets of its own compartment, nothing else: agents
 *   download scripts and upload outputs as their instance;
 * - the service's own buckets (`serviceOnly`) are for the service principal alone, whatever a user's rights.
 * Everything refused looks like a missing bucket (404 BucketNotFound), as on OCI.
 */
import type { Versioned } from '../shared/app/documents';
import { canUseCompartment, type IdentityDirectory, type Principal } from '../shared/ports/identity';
import type { BucketRecord, BucketRegistry } from './buckets';
import { bucketNotFound } from './object-storage-objects';

export type BucketAccess = 'read' | 'write' | 'manage';

export interface BucketAccessDeps {
  registry: BucketRegistry;
  directory: IdentityDirectory;
  namespace: string;
  /** The only principal that may use `serviceOnly` buckets. */
  serviceUserId: string;
}

export function isServicePrincipal(deps: BucketAccessDeps, principal: Principal): boolean {
  return principal.type === 'user' && principal.userId === deps.serviceUserId;
}

export async function mayUseBucket(
  deps: BucketAccessDeps,
  principal: Principal,
  bucket: BucketRecord,
  access: BucketAccess,
): Promise<boolean> {
  if (bucket.serviceOnly) return isServicePrincipal(deps, principal);
  if (principal.type === 'instance') {
    if (access === 'manage') return false;
    const instance = await deps.directory.getInstance(principal.instanceId);
    return instance !== undefined && instance.tenancyId === principal.tenancyId && instance.compartmentId === bucket.compartmentId;
  }
  return canUseCompartment(deps.directory, principal, bucket.compartmentId);
}

/** The bucket, if it exists and the principal may use it so; otherwise 404 BucketNotFound. */
export async function openBucket(
  deps: BucketAccessDeps,
  principal: Principal,
  namespace: string,
  bucketName: string,
  access: BucketAccess,
): Promise<Versioned<BucketRecord>> {
  const found = namespace === deps.namespace ? await deps.registry.getBucket(namespace, bucketName) : undefined;
  if (!found || !(await mayUseBucket(deps, principal, found.doc, access))) throw bucketNotFound(namespace, bucketName);
  return found;
}
