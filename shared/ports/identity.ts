/**
 * Who is calling, and what they may touch. The gateway authenticates (request signatures); use-cases authorize
 * through `IdentityDirectory` so the rules are the same whichever gateway fronts the functions.
 */

export type Principal =
  | { type: 'user'; tenancyId: string; userId: string }
  | { type: 'instance'; tenancyId: string; instanceId: string };

export function principalId(p: Principal): string {
  return p.type === 'user' ? `${p.tenancyId}/${p.userId}` : `${p.tenancyId}/${p.instanceId}`;
}

export interface UserRecord {
  tenancyId: string;
  userId: string;
  name: string;
  /** Compartments this user may manage; `'*'` for all in the tenancy. */
  compartments: string[] | '*';
}

export interface InstanceRecord {
  tenancyId: string;
  instanceId: string;
  compartmentId: string;
  displayName: string;
  /** The stream that carries this instance's commands and cancels. */
  streamId: string;
  timeCreated: string;
}

export interface CompartmentRecord {
  tenancyId: string;
  compartmentId: string;
  name: string;
}

export interface ApiKeyRecord {
  tenancyId: string;
  /** A user id or an instance id. */
  principalId: string;
  principalType: 'user' | 'instance';
  fingerprint: string;
  publicKeyPem: string;
}

/** Looks up the public key behind a signature's `keyId` (`tenancy/principal/fingerprint`). */
export interface KeyRegistry {
  findKey(tenancyId: string, principalId: string, fingerprint: string): Promise<ApiKeyRecord | undefined>;
}

export interface IdentityDirectory extends KeyRegistry {
  getUser(tenancyId: string, userId: string): Promise<UserRecord | undefined>;
  getInstance(instanceId: string): Promise<InstanceRecord | undefined>;
  getCompartment(compartmentId: string): Promise<CompartmentRecord | undefined>;
}

/** Whether the principal may act on resources in the compartment. Instances act only on their own executions. */
export async function canUseCompartment(
  directory: IdentityDirectory,
  principal: Principal,
  compartmentId: string,
): Promise<boolean> {
  if (principal.type !== 'user') return false;
  const [user, compartment] = await Promise.all([
    directory.getUser(principal.tenancyId, principal.userId),
    directory.getCompartment(compartmentId),
  ]);
  if (!user || !compartment || compartment.tenancyId !== principal.tenancyId) return false;
  return user.compartments === '*' || user.compartments.includes(compartmentId);
}
