import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as common from 'oci-common';
import {
  AgentObjectStorage,
  ScriptTooLargeError,
  baseNameOf,
  describeLocation,
  downloadObjectToFile,
  outputLocation,
  parseObjectUri,
  sourceLocation,
  type ObjectLocation,
} from '../../../agent/object-storage';
import { FakeObjectStorage } from './support/fake-object-storage';
import { tempDir } from './support/helpers';

describe('parseObjectUri', () => {
  it('reads a native object URL: the endpoint, and the object name from one percent-encoded segment', () => {
    expect(parseObjectUri('https://objectstorage.us-ashburn-1.oraclecloud.com/n/my-ns/b/my-bucket/o/scripts%2Fmain%20v2.sh')).toEqual({
      kind: 'native',
      endpoint: 'https://objectstorage.us-ashburn-1.oraclecloud.com',
      namespaceName: 'my-ns',
      bucketName: 'my-bucket',
      objectName: 'scripts/main v2.sh',
    });
  });

  it('reads a native object URL whose object name keeps its slashes, behind a base path', () => {
    expect(parseObjectUri('http://127.0.0.1:8530/os/n/ns/b/bk/o/a/b/c.sh')).toEqual({
      kind: 'native',
      endpoint: 'http://127.0.0.1:8530/os',
      namespaceName: 'ns',
      bucketName: 'bk',
      objectName: 'a/b/c.sh',
    });
  });

  it('reads a PAR URL: the whole URL (token included) to call unsigned, the names for messages', () => {
    const url = 'https://objectstorage.us-ashburn-1.oraclecloud.com/p/AbC-123_x/n/ns/b/bk/o/out%2Frun.log';
    expect(parseObjectUri(url)).toEqual({ kind: 'par', url, namespaceName: 'ns', bucketName: 'bk', objectName: 'out/run.log' });
  });

  it.each([
    ['not a URL', 'objectstorage/n/ns/b/bk/o/x'],
    ['not http', 'ftp://host/n/ns/b/bk/o/x'],
    ['a bucket, not an object', 'https://host/n/ns/b/bk/o/'],
    ['no /o/ at all', 'https://host/n/ns/b/bk'],
    ['a bucket-wide PAR without an object', 'https://host/p/tok/n/ns/b/bk/o/'],
    ['a query string on a native URL', 'https://host/n/ns/b/bk/o/x?versionId=1'],
    ['broken percent-encoding', 'https://host/n/ns/b/bk/o/%E0%A4%A'],
  ])('refuses %s, naming the URI', (_what, uri) => {
    expect(() => parseObjectUri(uri)).toThrow(/is not an (http\(s\) )?Object Storage/);
  });
});

describe('source and output locations', () => {
  it('takes a tuple to the configured endpoint (no endpoint of its own) and names objects as ns/bucket/object', () => {
    const location = sourceLocation({ sourceType: 'OBJECT_STORAGE_TUPLE', namespaceName: 'ns', bucketName: 'bk', objectName: 'dir/run.sh' });
    expect(location).toEqual({ kind: 'native', namespaceName: 'ns', bucketName: 'bk', objectName: 'dir/run.sh' });
    expect(describeLocation(location)).toBe('ns/bk/dir/run.sh');
    expect(baseNameOf(location)).toBe('run.sh');
  });

  it('keeps a PAR token out of the description', () => {
    const location = outputLocation({ outputType: 'OBJECT_STORAGE_URI', outputUri: 'http://127.0.0.1:1/p/SECRET/n/ns/b/bk/o/out' });
    expect(describeLocation(location)).toBe('ns/bk/out');
  });
});

describe('downloadObjectToFile', () => {
  const location: ObjectLocation = { kind: 'native', namespaceName: 'ns', bucketName: 'bk', objectName: 'run.sh' };
  const signal = new AbortController().signal;

  it('streams the object into a new file and returns its size and first bytes', async () => {
    const storage = new FakeObjectStorage();
    const content = `#!/bin/sh\n${'# filler\n'.repeat(2000)}`;
    storage.put('ns/bk/run.sh', content);
    const file = path.join(tempDir('download-'), 'run.sh');
    const saved = await downloadObjectToFile(storage, location, file, { maxBytes: 1024 * 1024, signal, headBytes: 16 });
    expect(saved).toEqual({ sizeBytes: content.length, head: Buffer.from(content.slice(0, 16)) });
    expect(fs.readFileSync(file, 'utf8')).toBe(content);
  });

  it('refuses an object over the limit: at once when its length is announced, mid-stream otherwise', async () => {
    for (const announceLength of [true, false]) {
      const storage = new FakeObjectStorage();
      storage.announceLength = announceLength;
      storage.put('ns/bk/run.sh', 'x'.repeat(5000));
      const file = path.join(tempDir('download-'), 'run.sh');
      await expect(downloadObjectToFile(storage, location, file, { maxBytes: 4999, signal })).rejects.toBeInstanceOf(ScriptTooLargeError);
    }
  });

  it('never overwrites an existing file', async () => {
    const storage = new FakeObjectStorage();
    storage.put('ns/bk/run.sh', 'new');
    const file = path.join(tempDir('download-'), 'run.sh');
    fs.writeFileSync(file, 'old');
    await expect(downloadObjectToFile(storage, location, file, { maxBytes: 100, signal })).rejects.toThrow(/saving it failed/);
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
  });
});

interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A 127.0.0.1 server speaking just enough Object Storage: `routes` answers by method and path. */
async function objectServer(route: (req: SeenRequest, res: http.ServerResponse) => void): Promise<{ endpoint: string; seen: SeenRequest[]; close: () => Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(r);
      route(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function errorAnswer(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'opc-request-id': 'r1' });
  res.end(JSON.stringify({ code, message }));
}

async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString();
}

describe('AgentObjectStorage', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const authProvider = new common.SimpleAuthenticationDetailsProvider('ocid1.tenancy.oc1..t', 'ocid1.instance.oc1..i', 'aa:bb', privateKey, null, common.Region.US_ASHBURN_1);
  const signal = new AbortController().signal;
  const noRetry = { terminationStrategy: new common.MaxAttemptsTerminationStrategy(1) };

  // The SDK warns on every error answer it does not retry.
  beforeEach(() => jest.spyOn(console, 'warn').mockImplementation(() => undefined));
  afterEach(() => jest.restoreAllMocks());

  it('reads a tuple signed as the instance from the configured endpoint, and names a 404 by its service code', async () => {
    const server = await objectServer((req, res) => {
      if (req.url === '/n/ns/b/bk/o/dir%2Frun.sh') {
        res.writeHead(200, { etag: 'e1', 'content-length': 4 });
        res.end('echo');
      } else if (req.url.startsWith('/n/ns/b/hidden/')) errorAnswer(res, 404, 'BucketNotFound', "Either the bucket named 'hidden' does not exist or you are not authorized to access it");
      else errorAnswer(res, 404, 'ObjectNotFound', 'The object was not found');
    });
    try {
      const storage = new AgentObjectStorage({ endpoint: server.endpoint, authProvider: () => authProvider, retry: noRetry });
      const opened = await storage.open({ kind: 'native', namespaceName: 'ns', bucketName: 'bk', objectName: 'dir/run.sh' }, signal);
      expect(opened.contentLength).toBe(4);
      await expect(readAll(opened.body)).resolves.toBe('echo');
      expect(server.seen[0]?.headers.authorization).toMatch(/keyId="ocid1.tenancy.oc1..t\/ocid1.instance.oc1..i\/aa:bb"/);
      await expect(storage.open({ kind: 'native', namespaceName: 'ns', bucketName: 'bk', objectName: 'gone.sh' }, signal)).rejects.toThrow('ObjectNotFound (404): The object was not found');
      await expect(storage.open({ kind: 'native', namespaceName: 'ns', bucketName: 'hidden', objectName: 'x' }, signal)).rejects.toThrow(/^BucketNotFound \(404\): Either the bucket/);
    } finally {
      await server.close();
    }
  });

  it('uploads a stream signed, with its length and opc-meta metadata, and names a refused upload', async () => {
    const server = await objectServer((req, res) => {
      if (req.url.startsWith('/n/ns/b/bk/')) {
        res.writeHead(200, { etag: 'e2', 'content-length': 0 });
        res.end();
      } else errorAnswer(res, 404, 'BucketNotFound', 'no such bucket');
    });
    try {
      const storage = new AgentObjectStorage({ endpoint: server.endpoint, authProvider: () => authProvider, retry: noRetry });
      await storage.upload(
        { kind: 'native', namespaceName: 'ns', bucketName: 'bk', objectName: 'out/run.log' },
        { body: Readable.from([Buffer.from('out'), Buffer.from('err')]), contentLength: 6, metadata: { 'runcommand-stdout-bytes': '3' } },
        signal,
      );
      const put = server.seen[0];
      expect(put).toMatchObject({ method: 'PUT', url: '/n/ns/b/bk/o/out%2Frun.log' });
      expect(put?.body.toString()).toBe('outerr');
      expect(put?.headers).toMatchObject({ 'content-length': '6', 'opc-meta-runcommand-stdout-bytes': '3', authorization: expect.stringMatching(/^Signature /) });
      await expect(
        storage.upload({ kind: 'native', namespaceName: 'ns', bucketName: 'other', objectName: 'x' }, { body: Readable.from([Buffer.from('x')]), contentLength: 1, metadata: {} }, signal),
      ).rejects.toThrow('BucketNotFound (404): no such bucket');
    } finally {
      await server.close();
    }
  });

  it('uses a PAR with plain unsigned GET and PUT, and names an expired one', async () => {
    const server = await objectServer((req, res) => {
      if (!req.url.startsWith('/p/good/')) return errorAnswer(res, 404, 'NotAuthorizedOrNotFound', 'The pre-authenticated request does not exist, has expired, or does not allow this.');
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-length': 2 });
        res.end('hi');
        return;
      }
      res.writeHead(200, { etag: 'e3' });
      res.end();
    });
    try {
      const storage = new AgentObjectStorage({ endpoint: 'http://127.0.0.1:1', authProvider: () => authProvider });
      const at = (token: string) => parseObjectUri(`${server.endpoint}/p/${token}/n/ns/b/bk/o/a%2Fb`);
      const opened = await storage.open(at('good'), signal);
      expect(opened.contentLength).toBe(2);
      await expect(readAll(opened.body)).resolves.toBe('hi');
      await storage.upload(at('good'), { body: Readable.from([Buffer.from('abc')]), contentLength: 3, metadata: { 'runcommand-exit-code': '0' } }, signal);
      const [get, put] = server.seen;
      expect(get).toMatchObject({ method: 'GET', url: '/p/good/n/ns/b/bk/o/a%2Fb' });
      expect(get?.headers.authorization).toBeUndefined();
      expect(put?.body.toString()).toBe('abc');
      expect(put?.headers).toMatchObject({ 'content-length': '3', 'opc-meta-runcommand-exit-code': '0' });
      expect(put?.headers.authorization).toBeUndefined();
      await expect(storage.open(at('expired'), signal)).rejects.toThrow(/^NotAuthorizedOrNotFound \(404\): The pre-authenticated request/);
      await expect(storage.upload(at('expired'), { body: Readable.from([Buffer.from('abc')]), contentLength: 3, metadata: {} }, signal)).rejects.toThrow(/NotAuthorizedOrNotFound \(404\)/);
    } finally {
      await server.close();
    }
  });

  it('names a connection failure', async () => {
    const storage = new AgentObjectStorage({ endpoint: 'http://127.0.0.1:1', authProvider: () => authProvider });
    await expect(storage.open(parseObjectUri('http://127.0.0.1:1/p/t/n/ns/b/bk/o/x'), signal)).rejects.toThrow(/^connection failed: /);
  });
});
