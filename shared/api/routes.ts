/**
 * The HTTP routes of the service: which operation a method and path are, and which function serves it.
 * The gateway uses this to pick the function; the function uses it to read the path parameters.
 */

export const Operations = {
  CreateInstanceAgentCommand: 'create-command',
  GetInstanceAgentCommand: 'query-commands',
  ListInstanceAgentCommands: 'query-commands',
  GetInstanceAgentCommandExecution: 'query-commands',
  ListInstanceAgentCommandExecutions: 'query-commands',
  CancelInstanceAgentCommand: 'cancel-command',
  ReportAgentEvent: 'agent-callback',
} as const;

export type Operation = keyof typeof Operations;
export type FunctionName = (typeof Operations)[Operation];

export interface MatchedRoute {
  operation: Operation;
  functionName: FunctionName;
  params: { instanceAgentCommandId?: string };
  query: URLSearchParams;
}

export const API_VERSION_PREFIX = '/20180530';

function decodeSegment(s: string): string | undefined {
  try {
    const v = decodeURIComponent(s);
    return v.length > 0 && v.length <= 255 ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `url` is the path and query as received. Resolves undefined when no route has this path, and `'method'` when
 * the path exists but not with this method (405).
 */
export function matchRoute(method: string, url: string): MatchedRoute | 'method' | undefined {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  if (!path.startsWith(`${API_VERSION_PREFIX}/`)) return undefined;
  const segments = path.slice(API_VERSION_PREFIX.length + 1).split('/');
  const route = (operation: Operation, params: MatchedRoute['params'] = {}): MatchedRoute => ({
    operation,
    functionName: Operations[operation],
    params,
    query,
  });
  const [first, second, third] = segments;

  if (segments.length === 1 && first === 'instanceAgentCommands') {
    if (method === 'POST') return route('CreateInstanceAgentCommand');
    if (method === 'GET') return route('ListInstanceAgentCommands');
    return 'method';
  }
  if (segments.length === 1 && first === 'instanceAgentCommandExecutions') {
    return method === 'GET' ? route('ListInstanceAgentCommandExecutions') : 'method';
  }
  if (first === 'instanceAgentCommands' && second !== undefined && (segments.length === 2 || (segments.length === 3 && third === 'status'))) {
    const id = decodeSegment(second);
    if (id === undefined) return undefined;
    if (segments.length === 3) return method === 'GET' ? route('GetInstanceAgentCommandExecution', { instanceAgentCommandId: id }) : 'method';
    if (method === 'GET') return route('GetInstanceAgentCommand', { instanceAgentCommandId: id });
    if (method === 'DELETE') return route('CancelInstanceAgentCommand', { instanceAgentCommandId: id });
    return 'method';
  }
  if (segments.length === 2 && first === 'agent' && second === 'reports') {
    return method === 'POST' ? route('ReportAgentEvent') : 'method';
  }
  return undefined;
}

/** The header through which the gateway tells a function who the (already authenticated) caller is. */
export const PRINCIPAL_HEADER = 'x-runcommand-principal';
