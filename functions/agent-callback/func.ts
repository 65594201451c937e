// agent-callback: POST /20180530/agent/reports (instance-signed; see docs/agent-protocol.md)
import { applyAgentReport } from '../../shared/app/agent-report';
import { principalFromHeaders } from '../../shared/api/principal';
import { processServiceDeps } from '../../shared/config/service-deps';
import { parseAgentReport } from '../../shared/domain/agent-report';
import { httpFunction, parseJsonBody } from '../../shared/fn/handler';

httpFunction(async (req) => ({
  status: 200,
  body: await applyAgentReport(
    await processServiceDeps('agent-callback'),
    principalFromHeaders(req.headers),
    parseAgentReport(parseJsonBody(req.body)),
  ),
}));
