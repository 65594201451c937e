// create-command: POST /20180530/instanceAgentCommands
import { createCommand } from '../../shared/app/create-command';
import { principalFromHeaders } from '../../shared/api/principal';
import { processServiceDeps } from '../../shared/config/service-deps';
import { toWireCommand } from '../../shared/domain/model';
import { validateCreateDetails, validateRetryToken } from '../../shared/domain/validation';
import { httpFunction, parseJsonBody } from '../../shared/fn/handler';

httpFunction(async (req) => {
  const created = await createCommand(await processServiceDeps('create-command'), {
    principal: principalFromHeaders(req.headers),
    spec: validateCreateDetails(parseJsonBody(req.body)),
    retryToken: validateRetryToken(req.headers['opc-retry-token']),
  });
  return { status: 200, headers: { etag: created.etag }, body: toWireCommand(created.doc) };
});
