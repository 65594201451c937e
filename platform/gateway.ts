/**
 * The platform's API gateway: what OCI API Gateway (plus an authorizer) does in front of the functions.
 * It authenticates every request (OCI HTTP signatures), routes `/20180530/...` to the function that serves it over
 * the real FDK contract, and maps the answer back, always with an `opc-request-id`. Other endpoint groups (the
 * Object Storage and Streaming subsets) mount beside the API under their own path prefixes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../shared/app/deps';
import { ServiceError, isServiceError } from '../shared/domain/errors';
import { Limits } from '../shared/domain/limits';
import { opcRequestId, readBody, sendJson } from '../shared/api/http';
import { principalHeaderValue } from '../shared/api/principal';
import { PRINCIPAL_HEADER, matchRoute, type FunctionName } from '../shared/api/routes';
import type { Clock } from '../shared/ports/clock';
import type { KeyRegistry } from '../shared/ports/identity';
import { FunctionError, type FnInvokeResponse } from './function-pool';
import { authenticate } from './endpoint-support';

/** Invokes a function as an HTTP trigger would. */
export type FunctionInvoker = (
  name: FunctionName,
  req: { method: string; url: string; headers: Record<string, string>; body: Buffer },
) => Promise<FnInvokeResponse>;

/** Serves one group of routes; resolves false when the request is not its own. */
export type EndpointMount = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  context: { requestId: string },
) => Promise<boolean>;

export interface GatewayOptions {
  host: string;
  port: number;
  keys: KeyRegistry;
  clock: Clock;
  invoke: FunctionInvoker;
  newRequestId: () => string;
  log: Logger;
  mounts?: EndpointMount[];
  /** Called after every function call that may have appended to a stream (creates, cancels, reports). */
  afterWrite?: () => void;
}

/** The OCI error code for each status a failed function call is answered with (see FunctionError). */
const FUNCTION_FAILURE_CODES: Record<number, string> = { 413: 'PayloadTooLarge', 503: 'ServiceUnavailable', 504: 'ServiceUnavailable' };

/** Headers a function answers that the gateway passes on to the client. */
const PASSED_RESPONSE_HEADERS = ['etag', 'opc-next-page', 'location'];
/** Client headers that never reach a function: hop-by-hop, or the gateway's own. */
const DROPPED_REQUEST_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'authorization', PRINCIPAL_HEADER]);

export class Gateway {
  private readonly server: http.Server;

  constructor(private readonly options: GatewayOptions) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    // Agents hold long polls open; the server must not cut idle keep-alive sockets under them.
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
    this.server.requestTimeout = 0;
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.server.address() as AddressInfo;
    return `http://${this.options.host}:${port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
    const requestId = opcRequestId(first(req.headers['opc-request-id']), this.options.newRequestId);
    res.setHeader('opc-request-id', requestId);
    try {
      for (const mount of this.options.mounts ?? []) {
        if (await mount(req, res, { requestId })) return;
      }
      await this.handleApi(req, res);
    } catch (e) {
      this.answerError(req, res, e, requestId);
    }
  }

  private async handleApi(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const route = matchRoute(method, url);
    if (route === undefined) throw new ServiceError('NotFound', `No route for ${method} ${url.split('?')[0]}.`);
    if (route === 'method') throw new ServiceError('MethodNotAllowed', `${method} is not allowed on ${url.split('?')[0]}.`);

    const body = await readBody(req, Limits.maxRequestBodyBytes);
    const principal = await authenticate(this.options, req, body, true);

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || DROPPED_REQUEST_HEADERS.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    headers[PRINCIPAL_HEADER] = principalHeaderValue(principal);
    headers['opc-request-id'] = res.getHeader('opc-request-id') as string;

    let answer: FnInvokeResponse;
    try {
      answer = await this.options.invoke(route.functionName, { method, url, headers, body });
    } finally {
      if (method !== 'GET') this.options.afterWrite?.();
    }
    const out: http.OutgoingHttpHeaders = {};
    for (const name of PASSED_RESPONSE_HEADERS) {
      const v = answer.headers[name];
      if (v !== undefined) out[name] = v;
    }
    if (answer.body.length > 0) {
      out['content-type'] = answer.headers['content-type'] ?? 'application/json';
      out['content-length'] = answer.body.length;
    }
    res.writeHead(answer.status, out);
    res.end(answer.body.length > 0 && answer.status !== 204 ? answer.body : undefined);
  }

  private answerError(req: http.IncomingMessage, res: http.ServerResponse, e: unknown, requestId: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (isServiceError(e)) {
      sendJson(res, e.status, e.toBody());
      return;
    }
    if (e instanceof FunctionError) {
      this.options.log.error('function call failed', { requestId, kind: e.kind, error: e.message, url: req.url });
      const code = FUNCTION_FAILURE_CODES[e.status] ?? 'InternalServerError';
      sendJson(res, e.status, { code, message: `The service could not complete the request (opc-request-id ${requestId}).` });
      return;
    }
    this.options.log.error('gateway error', { requestId, error: e instanceof Error ? e.stack : String(e), url: req.url });
    sendJson(res, 500, { code: 'InternalServerError', message: `Internal error (opc-request-id ${requestId}).` });
  }
}
