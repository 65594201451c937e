// object-events: invoked by Object Storage `createobject` events (OCI Events rule with a FAAS action, or the
// platform's event router). Records uploaded outputs on their executions; scripts dropped into the trigger bucket
// become commands. See shared/app/object-events.ts; a 4xx answer is permanent, anything else is retried.
import { handleObjectCreated } from '../../shared/app/object-events';
import { processObjectEventsDeps } from '../../shared/config/service-deps';
import { parseCreateObjectEvent } from '../../events/parse';
import { eventFunction, parseJsonBody } from '../../shared/fn/handler';

eventFunction(
  (body) => parseCreateObjectEvent(parseJsonBody(body)),
  async (event) => handleObjectCreated(await processObjectEventsDeps(), event),
);
