import { ServiceError } from '../domain/errors';
import type { Principal } from '../ports/identity';
import { PRINCIPAL_HEADER } from './routes';

/**
 * The caller, as the gateway authenticated it. The gateway removes any client-supplied copy of this header and sets
 * its own, so a function can trust it (on OCI, the API Gateway authorizer plays that part).
 */
export function principalFromHeaders(headers: Record<string, string>): Principal {
  const raw = headers[PRINCIPAL_HEADER];
  if (raw) {
    try {
      const p = JSON.parse(raw) as Partial<Principal> & Record<string, unknown>;
      if (p.type === 'user' && typeof p.tenancyId === 'string' && typeof p.userId === 'string') {
        return { type: 'user', tenancyId: p.tenancyId, userId: p.userId };
      }
      if (p.type === 'instance' && typeof p.tenancyId === 'string' && typeof p.instanceId === 'string') {
        return { type: 'instance', tenancyId: p.tenancyId, instanceId: p.instanceId };
      }
    } catch {
      // fall through: an unreadable principal is no principal
    }
  }
  throw new ServiceError('NotAuthenticated', 'The request was not authenticated.');
}

export function principalHeaderValue(p: Principal): string {
  return JSON.stringify(p);
}
