// cancel-command: DELETE /20180530/instanceAgentCommands/{instanceAgentCommandId}
import { cancelCommand } from '../../shared/app/cancel-command';
import { principalFromHeaders } from '../../shared/api/principal';
import { requireRoute } from '../../shared/api/route-params';
import { processServiceDeps } from '../../shared/config/service-deps';
import { httpFunction } from '../../shared/fn/handler';

httpFunction(async (req) => {
  await cancelCommand(await processServiceDeps('cancel-command'), {
    principal: principalFromHeaders(req.headers),
    commandId: requireRoute(req, 'CancelInstanceAgentCommand').commandId,
    ...(req.headers['if-match'] !== undefined ? { ifMatch: req.headers['if-match'] } : {}),
  });
  return { status: 204 };
});
