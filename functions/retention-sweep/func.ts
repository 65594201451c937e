// retention-sweep: invoked on a cron (the platform's scheduler, or OCI Resource Scheduler with a BODY parameter).
// The body configures the sweep; see shared/domain/sweep-policy.ts for its fields and defaults (empty = defaults).
import { sweep } from '../../shared/app/sweep';
import { processServiceDeps } from '../../shared/config/service-deps';
import { parseSweepRequest } from '../../shared/domain/sweep-policy';
import { eventFunction, parseJsonBody } from '../../shared/fn/handler';

eventFunction(
  (body) => parseSweepRequest(body.toString('utf8').trim() === '' ? undefined : parseJsonBody(body)),
  async (request, ctx) => {
    const deps = await processServiceDeps('retention-sweep');
    return sweep(deps, { ...request, nowMs: deps.clock.nowMs(), signal: ctx.signal });
  },
);
