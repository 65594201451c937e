// query-commands: the four GETs of the instanceagent API.
import { principalFromHeaders } from '../../shared/api/principal';
import { requireRoute } from '../../shared/api/route-params';
import { processServiceDeps } from '../../shared/config/service-deps';
import { queryCommands } from '../../shared/api/query-operations';
import { httpFunction } from '../../shared/fn/handler';

httpFunction(async (req) => {
  const route = requireRoute(
    req,
    'GetInstanceAgentCommand',
    'ListInstanceAgentCommands',
    'GetInstanceAgentCommandExecution',
    'ListInstanceAgentCommandExecutions',
  );
  return queryCommands(await processServiceDeps('query-commands'), principalFromHeaders(req.headers), route);
});
