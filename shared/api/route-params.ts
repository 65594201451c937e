import { ServiceError } from '../domain/errors';
import { matchRoute, type Operation } from './routes';

/**
 * The route a function was invoked for, checked against the operations it serves. The gateway already routed the
 * call, so a mismatch means the function was invoked directly with a wrong URL.
 */
export function requireRoute(
  req: { method: string; url: string },
  ...operations: Operation[]
): { operation: Operation; commandId: string; query: URLSearchParams } {
  const route = matchRoute(req.method, req.url);
  if (route === undefined || route === 'method' || !operations.includes(route.operation)) {
    throw new ServiceError('NotFound', `No operation ${req.method} ${req.url.split('?')[0]} in this function.`);
  }
  return { operation: route.operation, commandId: route.params.instanceAgentCommandId ?? '', query: route.query };
}
