/** The four read operations: query parameters in, wire JSON and headers out. */
import type { ServiceDeps } from '../app/deps';
import { getCommand, getExecution, listCommands, listExecutions } from '../app/query-commands';
import { toWireCommand, toWireCommandSummary, toWireExecution } from '../domain/model';
import {
  COMPARTMENT_OCID_TYPES,
  INSTANCE_OCID_TYPES,
  parseLifecycleStateFilter,
  parseLimit,
  parseOcidParam,
  parseSortBy,
  parseSortOrder,
} from '../domain/validation';
import type { Principal } from '../ports/identity';
import type { Operation } from './routes';

export interface WireResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

function listParams(query: URLSearchParams) {
  const sortBy = parseSortBy(query.get('sortBy'));
  const page = query.get('page');
  return {
    compartmentId: parseOcidParam(query.get('compartmentId'), 'compartmentId', COMPARTMENT_OCID_TYPES),
    limit: parseLimit(query.get('limit')),
    sortBy,
    sortOrder: parseSortOrder(query.get('sortOrder'), sortBy),
    ...(page ? { page } : {}),
  };
}

const nextPageHeader = (nextPage: string | undefined): Record<string, string> =>
  nextPage ? { 'opc-next-page': nextPage } : {};

export async function queryCommands(
  deps: ServiceDeps,
  principal: Principal,
  route: { operation: Operation; commandId: string; query: URLSearchParams },
): Promise<WireResponse> {
  const { query } = route;
  switch (route.operation) {
    case 'GetInstanceAgentCommand': {
      const found = await getCommand(deps, principal, route.commandId);
      return { status: 200, headers: { etag: found.etag }, body: toWireCommand(found.doc) };
    }
    case 'GetInstanceAgentCommandExecution': {
      const instanceId = parseOcidParam(query.get('instanceId'), 'instanceId', INSTANCE_OCID_TYPES);
      const found = await getExecution(deps, principal, route.commandId, instanceId);
      return { status: 200, headers: { etag: found.etag }, body: toWireExecution(found.doc) };
    }
    case 'ListInstanceAgentCommands': {
      const page = await listCommands(deps, principal, listParams(query));
      return { status: 200, headers: nextPageHeader(page.nextPage), body: page.items.map(toWireCommandSummary) };
    }
    case 'ListInstanceAgentCommandExecutions': {
      const lifecycleState = parseLifecycleStateFilter(query.get('lifecycleState'));
      const page = await listExecutions(deps, principal, {
        ...listParams(query),
        instanceId: parseOcidParam(query.get('instanceId'), 'instanceId', INSTANCE_OCID_TYPES),
        ...(lifecycleState ? { lifecycleState } : {}),
      });
      return { status: 200, headers: nextPageHeader(page.nextPage), body: page.items.map(toWireExecution) };
    }
    default:
      return { status: 405, body: { code: 'MethodNotAllowed', message: 'Not a read operation.' } };
  }
}
