import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  HttpReporter,
  isPermanentReportFailure,
  ReportAnswerInvalidError,
  ReportRejectedError,
  ReportTransientError,
  type AgentReport,
} from '../../../agent/reporter';
import { bodySha256Base64, signRequest } from '../../../shared/api/signature';

interface Seen {
  method?: string;
  url?: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function withServer(answer: (res: http.ServerResponse) => void, test: (endpoint: string, seen: Seen[]) => Promise<void>): Promise<void> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      answer(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await test(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

function json(status: number, body: unknown): (res: http.ServerResponse) => void {
  return (res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

const report: AgentReport = {
  callbackId: 'cb-1',
  sequence: 1,
  agentSessionId: 'agent-1',
  instanceAgentCommandId: 'ocid1.instanceagentcommand.oc1..c1',
  event: { type: 'ACK', at: '2026-01-01T00:00:00.000Z' },
};

const fakeSigner = () => ({ authorization: 'Signature fake', 'x-date': 'Thu, 01 Jan 2026 00:00:00 GMT' });

describe('HttpReporter', () => {
  it('POSTs the report as JSON to /20180530/agent/reports with the signer headers and parses the answer', async () => {
    const answer = { lifecycleState: 'ACCEPTED', deliveryState: 'ACKED', changed: true, run: true };
    await withServer(json(200, answer), async (endpoint, seen) => {
      const reporter = new HttpReporter({ apiEndpoint: `${endpoint}/`, sign: fakeSigner });
      await expect(reporter.report(report)).resolves.toEqual(answer);
      expect(seen[0]).toMatchObject({ method: 'POST', url: '/20180530/agent/reports', body: JSON.stringify(report) });
      expect(seen[0]?.headers).toMatchObject({ authorization: 'Signature fake', 'content-type': 'application/json', 'opc-request-id': 'cb-1' });
    });
  });

  it('signs with signRequest so the body hash and signed headers match what was sent', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await withServer(json(200, { lifecycleState: 'IN_PROGRESS', deliveryState: 'ACKED', changed: true }), async (endpoint, seen) => {
      const reporter = new HttpReporter({ apiEndpoint: endpoint, sign: (req) => signRequest(req, { keyId: 't/i/f', privateKeyPem: pem }) });
      await expect(reporter.report(report)).resolves.toMatchObject({ changed: true, run: false });
      const headers = seen[0]?.headers ?? {};
      expect(headers.authorization).toMatch(/keyId="t\/i\/f".*headers="x-date \(request-target\) host Content-Type Content-Length x-content-sha256"/);
      expect(headers['content-length']).toBe(String(Buffer.byteLength(JSON.stringify(report))));
      // The signed hash is of the bytes that arrived.
      expect(headers['x-content-sha256']).toBe(bodySha256Base64(seen[0]?.body ?? ''));
    });
  });

  it.each([
    [404, 'NotAuthorizedOrNotFound'],
    [409, 'Conflict'],
    [409, 'IncorrectState'],
    [400, 'InvalidParameter'],
  ])('maps %i %s to a permanent ReportRejectedError with the OCI code', async (status, code) => {
    await withServer(json(status, { code, message: 'nope' }), async (endpoint) => {
      const err = await new HttpReporter({ apiEndpoint: endpoint, sign: fakeSigner }).report(report).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReportRejectedError);
      expect(err).toMatchObject({ status, code });
      expect(isPermanentReportFailure(err)).toBe(true);
    });
  });

  it.each([500, 503, 429, 401])('maps %i to a retryable ReportTransientError', async (status) => {
    await withServer(json(status, { code: 'X', message: 'later' }), async (endpoint) => {
      const err = await new HttpReporter({ apiEndpoint: endpoint, sign: fakeSigner }).report(report).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReportTransientError);
      expect(isPermanentReportFailure(err)).toBe(false);
    });
  });

  it('maps a connection failure to a ReportTransientError', async () => {
    let endpoint = '';
    await withServer(json(200, {}), async (e) => {
      endpoint = e;
    });
    const err = await new HttpReporter({ apiEndpoint: endpoint, sign: fakeSigner }).report(report).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReportTransientError);
  });

  it('refuses a 200 whose body is not an answer, as a permanent error', async () => {
    await withServer(json(200, 'not json'), async (endpoint) => {
      const err = await new HttpReporter({ apiEndpoint: endpoint, sign: fakeSigner }).report(report).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReportAnswerInvalidError);
      expect(isPermanentReportFailure(err)).toBe(true);
    });
  });
});
