import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { opcRequestId, readBody, sendJson } from '../../../shared/api/http';
import { isServiceError, ServiceError } from '../../../shared/domain/errors';

const MAX_BYTES = 16;

const server = http.createServer((req, res) => {
  readBody(req, MAX_BYTES).then(
    (body) => sendJson(res, 200, { length: body.length, text: body.toString('utf8') }, { 'opc-request-id': 'r1' }),
    (e: unknown) => {
      const error = isServiceError(e) ? e : new ServiceError('InternalServerError', String(e));
      sendJson(res, error.status, error.toBody(), { connection: 'close' });
    },
  );
});
let port = 0;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function post(chunks: string[], headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers }, (res) => {
      const parts: string[] = [];
      res.setEncoding('utf8');
      res.on('data', (c: string) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(parts.join('')) as unknown }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('readBody and sendJson', () => {
  it('reads a body up to the limit and answers JSON with its headers', async () => {
    const r = await post(['0123456789', 'abcdef']);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ length: 16, text: '0123456789abcdef' });
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['opc-request-id']).toBe('r1');
  });

  it('answers 413 PayloadTooLarge when a chunked body passes the limit', async () => {
    const r = await post(['0123456789', 'abcdefg']);
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ code: 'PayloadTooLarge', message: expect.stringContaining('16 bytes') });
  });

  it('answers 413 from a declared content-length before reading', async () => {
    const r = await post(['x'.repeat(40)], { 'content-length': '40' });
    expect(r.status).toBe(413);
  });
});

describe('ServiceError.toBody', () => {
  it('is the OCI {code, message} pair', () => {
    expect(new ServiceError('NoEtagMatch', 'The etag does not match.').toBody()).toEqual({ code: 'NoEtagMatch', message: 'The etag does not match.' });
  });
});

describe('opcRequestId', () => {
  const newId = (): string => 'GENERATED';

  it('echoes a sane caller id, such as the SDK one', () => {
    expect(opcRequestId('C33EED50EAB4-11F1-A6B2-F55760F11CA2', newId)).toBe('C33EED50EAB4-11F1-A6B2-F55760F11CA2');
    expect(opcRequestId('a/b.c:d_e', newId)).toBe('a/b.c:d_e');
    expect(opcRequestId('x'.repeat(98), newId)).toHaveLength(98);
  });

  it.each([[undefined], [''], ['x'.repeat(99)], ['has space'], ['new\nline'], ['<script>']])('generates one for %p', (incoming) => {
    expect(opcRequestId(incoming, newId)).toBe('GENERATED');
  });
});
