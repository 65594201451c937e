import type { Context } from '@fnproject/fdk';
import { ServiceError } from '../../../shared/domain/errors';
import {
  DEADLINE_MARGIN_MS,
  answerEvent,
  answerHttp,
  deadlineSignal,
  parseJsonBody,
  toHttpRequest,
  type FnHttpRequest,
  type FnHttpResponse,
} from '../../../shared/fn/handler';

type CallContext = Pick<Context, 'httpGateway' | 'contentType' | 'callID' | 'deadline'>;

/** The slice of an FDK context the wrapper reads, shaped as FDK 0.0.76 presents it. */
function fakeContext(over: {
  method?: string | null;
  requestURL?: string | null;
  gatewayHeaders?: Record<string, string[]>;
  contentType?: string | null;
  callID?: string | null;
  deadline?: Date | null;
}): CallContext {
  const gateway = {
    method: over.method ?? null,
    requestURL: over.requestURL ?? null,
    headers: over.gatewayHeaders ?? {},
  } as unknown as Context['httpGateway'];
  return { httpGateway: gateway, contentType: over.contentType ?? null, callID: over.callID ?? null, deadline: over.deadline ?? null };
}

const request = (over: Partial<FnHttpRequest> = {}): FnHttpRequest => ({
  method: 'GET',
  url: '/',
  headers: {},
  body: Buffer.alloc(0),
  callId: 'call-9',
  deadline: null,
  ...over,
});

const live = new AbortController().signal;

describe('parseJsonBody', () => {
  it('decodes UTF-8 and parses JSON', () => {
    expect(parseJsonBody(Buffer.from('{"a":"é€😀","n":[1,2]}'))).toEqual({ a: 'é€😀', n: [1, 2] });
  });

  it.each([
    ['malformed JSON', '{"a":'],
    ['an empty body', ''],
    ['a blank body', ' \n'],
  ])('refuses %s with CannotParseRequest', (_name, text) => {
    expect(() => parseJsonBody(Buffer.from(text))).toThrow(expect.objectContaining({ code: 'CannotParseRequest', status: 400 }));
  });
});

describe('toHttpRequest', () => {
  it('takes the original client headers (lower-case, first value) and the unprefixed Content-Type', () => {
    const req = toHttpRequest(
      Buffer.from('x'),
      fakeContext({
        method: 'post',
        requestURL: '/v1/things?a=1',
        gatewayHeaders: { Authorization: ['Bearer a', 'Bearer b'], 'Opc-Request-Id': ['r1'] },
        contentType: 'application/json',
        callID: 'c1',
        deadline: new Date('2026-01-01T00:00:30Z'),
      }),
    );
    expect(req).toEqual({
      method: 'POST',
      url: '/v1/things?a=1',
      headers: { authorization: 'Bearer a', 'opc-request-id': 'r1', 'content-type': 'application/json' },
      body: Buffer.from('x'),
      callId: 'c1',
      deadline: new Date('2026-01-01T00:00:30Z'),
    });
  });

  it('cuts an absolute Fn trigger URL to path and query', () => {
    expect(toHttpRequest(Buffer.alloc(0), fakeContext({ requestURL: 'http://fn.local:8080/t/app/x?q=1' })).url).toBe('/t/app/x?q=1');
    expect(toHttpRequest(Buffer.alloc(0), fakeContext({ requestURL: 'https://gw.example.com' })).url).toBe('/');
  });

  it('treats a direct invoke without gateway headers as POST / with no deadline when Fn-Deadline is unparseable', () => {
    const req = toHttpRequest(Buffer.alloc(0), fakeContext({ deadline: new Date(Number.NaN) }));
    expect(req).toMatchObject({ method: 'POST', url: '/', headers: {}, callId: null, deadline: null });
  });
});

describe('answerHttp', () => {
  it('serialises the body as JSON and keeps status and headers', async () => {
    const reply = await answerHttp(async () => ({ status: 201, headers: { Location: '/x/1' }, body: { id: 1 } }), request(), live);
    expect(reply).toEqual({ status: 201, headers: { Location: '/x/1' }, body: '{"id":1}' });
  });

  it('answers an empty body when the response has none', async () => {
    expect(await answerHttp(async () => ({ status: 204 }), request(), live)).toEqual({ status: 204, headers: {}, body: '' });
  });

  it('maps a ServiceError to its status and {code,message} without logging it as unexpected', async () => {
    const log = jest.fn();
    const reply = await answerHttp(
      async () => {
        throw new ServiceError('Conflict', 'Changed meanwhile');
      },
      request(),
      live,
      log,
    );
    expect(reply).toEqual({ status: 409, headers: {}, body: '{"code":"Conflict","message":"Changed meanwhile"}' });
    expect(log).not.toHaveBeenCalled();
  });

  it.each<[string, () => Promise<FnHttpResponse>]>([
    [
      'a thrown error',
      async () => {
        throw new Error('db password hunter2');
      },
    ],
    ['an undefined response', async () => undefined as unknown as FnHttpResponse],
    ['an invalid status', async () => ({ status: 42 })],
    ['a header value with a line break', async () => ({ status: 200, headers: { 'X-A': 'a\r\nSet-Cookie: x' } })],
    ['a header name that is not a token', async () => ({ status: 200, headers: { 'X A': 'a' } })],
    ['a body JSON cannot serialise', async () => ({ status: 200, body: { n: BigInt(1) } })],
  ])('answers %s with a 500 that names only the call id, and logs the detail', async (_name, handle) => {
    const log = jest.fn();
    const reply = await answerHttp(handle, request(), live, log);
    expect(reply).toEqual({
      status: 500,
      headers: {},
      body: '{"code":"InternalServerError","message":"Internal error (call call-9)"}',
    });
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0]?.[0]).toMatch(/^Function call call-9 failed: /);
  });

  it('logs the stack of an unexpected error and says when the deadline had passed', async () => {
    const log = jest.fn();
    const aborted = new AbortController();
    aborted.abort();
    await answerHttp(
      async () => {
        throw new Error('slow');
      },
      request(),
      aborted.signal,
      log,
    );
    expect(log.mock.calls[0]?.[0]).toMatch(/call call-9 failed after its deadline passed: Error: slow\n\s+at /);
  });
});

describe('answerEvent', () => {
  const ctx = { callId: 'call-3', deadline: null, signal: live };

  it('parses the body, runs the handler and answers its result as JSON', async () => {
    const reply = await answerEvent((b) => b.toString('utf8'), async (input) => ({ got: input }), Buffer.from('hi'), ctx);
    expect(reply).toEqual({ status: 200, headers: {}, body: '{"got":"hi"}' });
  });

  it('answers {} when the handler returns undefined', async () => {
    expect((await answerEvent(() => 1, async () => undefined, Buffer.alloc(0), ctx)).body).toBe('{}');
  });

  it('answers a 4xx ServiceError from parse as a permanent error without running the handler', async () => {
    const handle = jest.fn();
    const reply = await answerEvent(parseJsonBody, handle, Buffer.from('nope'), ctx);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'CannotParseRequest' });
    expect(handle).not.toHaveBeenCalled();
  });

  it.each([
    ['an unexpected error', new Error('secret')],
    ['a 5xx ServiceError', new ServiceError('ServiceUnavailable', 'secret')],
  ])('fails %s with a text-free error so the invoker retries', async (_name, error) => {
    const log = jest.fn();
    const outcome = answerEvent(
      () => 1,
      async () => {
        throw error;
      },
      Buffer.alloc(0),
      ctx,
      log,
    );
    await expect(outcome).rejects.toThrow(new Error('Function failed (call call-3)'));
    expect(log.mock.calls[0]?.[0]).toContain('secret');
  });
});

describe('deadlineSignal', () => {
  afterEach(() => jest.useRealTimers());

  it('never aborts without a deadline', () => {
    jest.useFakeTimers();
    const { signal } = deadlineSignal(null, { nowMs: () => 0 });
    jest.advanceTimersByTime(10 ** 9);
    expect(signal.aborted).toBe(false);
  });

  it(`aborts ${DEADLINE_MARGIN_MS} ms before the deadline`, () => {
    jest.useFakeTimers();
    const { signal } = deadlineSignal(new Date(10_000), { nowMs: () => 1_000 });
    jest.advanceTimersByTime(9_000 - DEADLINE_MARGIN_MS - 1);
    expect(signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toMatchObject({ name: 'TimeoutError' });
  });

  it('is aborted at once when the deadline is (nearly) past', () => {
    expect(deadlineSignal(new Date(1_200), { nowMs: () => 1_000 }).signal.aborted).toBe(true);
  });

  it('stops its timer on dispose', () => {
    jest.useFakeTimers();
    const { signal, dispose } = deadlineSignal(new Date(10_000), { nowMs: () => 0 });
    dispose();
    jest.advanceTimersByTime(20_000);
    expect(signal.aborted).toBe(false);
  });
});
