/**
 * `POST /20180530/agent/sessions` (docs/agent-protocol.md, "Sessions"): an instance, signing with its key, opens a
 * session whose secret signs its later requests (`shared/api/agent-session.ts`). Served by the gateway itself, as an
 * authorizer would: it is authentication, not an API call.
 */
import { AGENT_SESSIONS_PATH, InvalidSessionRequestError, type AgentSessions } from '../shared/api/agent-session';
import { sendJson } from '../shared/api/http';
import { ServiceError } from '../shared/domain/errors';
import type { EndpointMount } from './gateway';
import { authenticateCaller, isRecord, readJsonBody, requireString, splitPath, type EndpointDeps } from './endpoint-support';

/** The body is one public key; anything much larger is not a session request. */
const MAX_BODY_BYTES = 4096;

export function agentSessionsEndpoint(deps: EndpointDeps & { sessions: AgentSessions }): EndpointMount {
  return async (req, res) => {
    if (`/${splitPath(req.url ?? '/').segments.join('/')}` !== AGENT_SESSIONS_PATH) return false;
    if (req.method !== 'POST') throw new ServiceError('MethodNotAllowed', `${req.method ?? 'GET'} is not allowed on ${AGENT_SESSIONS_PATH}.`);
    const { raw, json } = await readJsonBody(req, MAX_BODY_BYTES);
    const caller = await authenticateCaller(deps, req, raw, true);
    // A session must not renew itself: a new one needs the key, so a session never outlives its key's signatures.
    if (caller.session) throw new ServiceError('NotAuthenticated', 'A session is opened with a request signed by the instance key, not by a session.');
    const { principal } = caller;
    if (principal.type !== 'instance') throw new ServiceError('NotAuthorizedOrNotFound', 'Only instances open agent sessions.');
    if (!isRecord(json)) throw new ServiceError('InvalidParameter', 'The body must be a JSON object with publicKey.');
    const publicKey = requireString(json, 'publicKey');
    const fingerprint = caller.keyId.split('/')[2] ?? '';
    try {
      const grant = deps.sessions.issue({ tenancyId: principal.tenancyId, instanceId: principal.instanceId, fingerprint }, publicKey, deps.clock.nowMs());
      sendJson(res, 200, grant);
    } catch (e) {
      if (e instanceof InvalidSessionRequestError) throw new ServiceError('InvalidParameter', e.message);
      throw e;
    }
    return true;
  };
}
