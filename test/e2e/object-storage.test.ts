/**
 * The platform's Object Storage endpoint with Oracle's own ObjectStorageClient (authenticated from the admin's OCI
 * config file the platform writes), plain curl for pre-authenticated requests, and hand-made requests for what the
 * SDK never sends.
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as common from 'oci-common';
import { ObjectStorageClient, type models } from 'oci-objectstorage';
import { addCompartment, addRestrictedUser } from '../../platform/admin';
import { servicePrincipalFiles } from '../../platform/object-storage-service';
import { readOciConfigProfile } from '../../shared/api/oci-config';
import {
  expectOciError,
  forgedAdminConfigFile,
  instanceClientParams,
  rawRequest,
  startTestPlatform,
  type TestPlatform,
} from '../support/platform';

/** Above the 20 MB round trip, so a 22 MiB upload is refused. */
const MAX_OBJECT_BYTES = 21 * 1024 * 1024;

let tp: TestPlatform;
let client: ObjectStorageClient;
let namespaceName: string;
let clockOffsetMs = 0;
let bucketCount = 0;

beforeAll(async () => {
  tp = await startTestPlatform({ clock: { nowMs: () => Date.now() + clockOffsetMs }, maxObjectBytes: MAX_OBJECT_BYTES });
  client = clientFor(tp.info.ociConfigFile);
  namespaceName = tp.info.namespace;
}, 60_000);

afterAll(async () => {
  await tp?.stop();
});

function clientFor(configFile: string): ObjectStorageClient {
  const c = new ObjectStorageClient({ authenticationDetailsProvider: new common.ConfigFileAuthenticationDetailsProvider(configFile, 'DEFAULT') });
  c.endpoint = tp.info.endpoint;
  return c;
}

async function newBucket(compartmentId = tp.info.compartmentId, c = client): Promise<string> {
  bucketCount += 1;
  const name = `e2e-bucket-${bucketCount}`;
  await c.createBucket({ namespaceName, createBucketDetails: { name, compartmentId } });
  return name;
}

async function bodyOf(value: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.fromWeb(value as WebReadableStream)) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Deterministic pseudo-random bytes (AES-CTR over zeros), produced in chunks so the test never holds them whole. */
function* pseudoRandomChunks(totalBytes: number, chunkBytes = 1024 * 1024): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  for (let offset = 0; offset < totalBytes; offset += chunkBytes) {
    yield cipher.update(Buffer.alloc(Math.min(chunkBytes, totalBytes - offset)));
  }
}

function curl(args: string[], stdin?: Iterable<Buffer>): Promise<{ status: number; body: Buffer }> {
  const out = path.join(tp.dataDir, `curl-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-o', out, '-w', '%{http_code}', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`curl exited with ${code}: ${stderr}`));
      let body = Buffer.alloc(0);
      try {
        body = readFileSync(out);
      } catch {
        // No body was written (HEAD, 204).
      }
      resolve({ status: Number(stdout), body });
    });
    if (stdin) Readable.from(stdin).pipe(child.stdin);
    else child.stdin.end();
  });
}

describe('namespace and buckets', () => {
  it('answers GetNamespace with the namespace of platform.json', async () => {
    const res = await client.getNamespace({});
    expect(res.value).toBe(namespaceName);
  });

  it('creates, gets, lists and deletes a bucket', async () => {
    const created = await client.createBucket({
      namespaceName,
      createBucketDetails: { name: 'lifecycle', compartmentId: tp.info.compartmentId, objectEventsEnabled: true, publicAccessType: 'ObjectRead' as never },
    });
    expect(created.bucket).toMatchObject({
      namespace: namespaceName,
      name: 'lifecycle',
      compartmentId: tp.info.compartmentId,
      createdBy: readOciConfigProfile(tp.info.ociConfigFile).user,
      objectEventsEnabled: true,
      publicAccessType: 'NoPublicAccess',
    });
    expect(created.eTag).toBeTruthy();
    expect(created.bucket.etag).toBe(created.eTag);

    const got = await client.getBucket({ namespaceName, bucketName: 'lifecycle', fields: ['approximateCount' as never] });
    expect(got.eTag).toBe(created.eTag);
    expect(got.bucket).toMatchObject({ name: 'lifecycle', etag: created.eTag, approximateCount: 0 });

    const listed = await client.listBuckets({ namespaceName, compartmentId: tp.info.compartmentId });
    expect(listed.items.map((b) => b.name)).toContain('lifecycle');

    await expectOciError(
      client.createBucket({ namespaceName, createBucketDetails: { name: 'lifecycle', compartmentId: tp.info.compartmentId } }),
      409,
      'BucketAlreadyExists',
    );
    await client.deleteBucket({ namespaceName, bucketName: 'lifecycle' });
    await expectOciError(client.getBucket({ namespaceName, bucketName: 'lifecycle' }), 404, 'BucketNotFound');
  });

  it('refuses to delete a bucket that holds objects (409 BucketNotEmpty)', async () => {
    const bucketName = await newBucket();
    await client.putObject({ namespaceName, bucketName, objectName: 'keep', putObjectBody: 'x', contentLength: 1 });
    await expectOciError(client.deleteBucket({ namespaceName, bucketName }), 409, 'BucketNotEmpty');
    await client.deleteObject({ namespaceName, bucketName, objectName: 'keep' });
    await client.deleteBucket({ namespaceName, bucketName });
  });

  it('pages ListBuckets with opc-next-page', async () => {
    const compartmentId = await addCompartment(tp.dataDir, 'many-buckets');
    const names = [];
    for (let i = 0; i < 5; i++) names.push(await newBucket(compartmentId));
    const seen: string[] = [];
    let page: string | undefined;
    do {
      const res = await client.listBuckets({ namespaceName, compartmentId, limit: 2, ...(page ? { page } : {}) });
      expect(res.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.items.map((b) => b.name));
      page = res.opcNextPage;
    } while (page);
    expect(seen).toEqual([...names].sort());
  });

  it('keeps the service buckets out of every user’s reach, admin included', async () => {
    const listed = await client.listBuckets({ namespaceName, compartmentId: tp.info.compartmentId });
    expect(listed.items.map((b) => b.name)).not.toContain('runcommand-iam');
    await expectOciError(client.getBucket({ namespaceName, bucketName: 'runcommand-iam' }), 404, 'BucketNotFound');
    await expectOciError(client.listObjects({ namespaceName, bucketName: 'runcommand-iam' }), 404, 'BucketNotFound');
    await expectOciError(client.getObject({ namespaceName, bucketName: 'runcommand-state', objectName: 'x' }), 404, 'BucketNotFound');

    // The service principal, and only it, reads them: they hold the identity directory.
    const service = clientFor(servicePrincipalFiles(tp.dataDir).configFile);
    const serviceListed = await service.listBuckets({ namespaceName, compartmentId: tp.info.compartmentId });
    expect(serviceListed.items.map((b) => b.name)).toEqual(expect.arrayContaining(['runcommand-iam', 'runcommand-state']));
    const keys = await service.listObjects({ namespaceName, bucketName: 'runcommand-iam', prefix: 'keys/' });
    expect(keys.listObjects.objects.length).toBeGreaterThan(0);
  });
});

describe('objects through ObjectStorageClient', () => {
  let bucketName: string;

  beforeAll(async () => {
    bucketName = await newBucket();
  });

  it('puts, gets, heads and deletes an object with its metadata, etag and MD5', async () => {
    const body = '{"hello":"wörld"}';
    const md5 = createHash('md5').update(body).digest('base64');
    const put = await client.putObject({
      namespaceName,
      bucketName,
      objectName: 'dir/doc.json',
      putObjectBody: body,
      contentLength: Buffer.byteLength(body),
      contentType: 'application/json',
      contentMD5: md5,
      opcMeta: { state: 'DONE', 'execution-id': 'abc' },
    });
    expect(put.eTag).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(put.opcContentMd5).toBe(md5);

    const got = await client.getObject({ namespaceName, bucketName, objectName: 'dir/doc.json' });
    expect((await bodyOf(got.value)).toString('utf8')).toBe(body);
    expect(got.eTag).toBe(put.eTag);
    expect(got.contentLength).toBe(Buffer.byteLength(body));
    expect(got.contentType).toBe('application/json');
    expect(got.contentMd5).toBe(md5);
    expect(got.opcMeta).toEqual({ 'opc-meta-state': 'DONE', 'opc-meta-execution-id': 'abc' });
    expect(got.lastModified).toBeTruthy();

    const head = await client.headObject({ namespaceName, bucketName, objectName: 'dir/doc.json' });
    expect(head.eTag).toBe(put.eTag);
    expect(head.contentLength).toBe(Buffer.byteLength(body));
    expect(head.opcMeta).toEqual({ 'opc-meta-state': 'DONE', 'opc-meta-execution-id': 'abc' });

    await client.deleteObject({ namespaceName, bucketName, objectName: 'dir/doc.json' });
    await expectOciError(client.getObject({ namespaceName, bucketName, objectName: 'dir/doc.json' }), 404, 'ObjectNotFound');
    await expectOciError(client.deleteObject({ namespaceName, bucketName, objectName: 'dir/doc.json' }), 404, 'ObjectNotFound');
  });

  it('refuses a body that does not match its Content-MD5 and stores nothing', async () => {
    const wrong = createHash('md5').update('something else').digest('base64');
    await expectOciError(
      client.putObject({ namespaceName, bucketName, objectName: 'bad-md5', putObjectBody: 'payload', contentLength: 7, contentMD5: wrong }),
      400,
      'InvalidParameter',
    );
    await expectOciError(client.headObject({ namespaceName, bucketName, objectName: 'bad-md5' }), 404, 'None');
  });

  it('answers a stale ifMatch with 412 IfMatchFailed and ifNoneMatch * on an existing object with 412 IfNoneMatchFailed', async () => {
    const first = await client.putObject({ namespaceName, bucketName, objectName: 'cas', putObjectBody: 'v1', contentLength: 2, ifNoneMatch: '*' });
    const second = await client.putObject({ namespaceName, bucketName, objectName: 'cas', putObjectBody: 'v2', contentLength: 2, ifMatch: first.eTag });
    await expectOciError(
      client.putObject({ namespaceName, bucketName, objectName: 'cas', putObjectBody: 'v3', contentLength: 2, ifMatch: first.eTag }),
      412,
      'IfMatchFailed',
    );
    await expectOciError(
      client.putObject({ namespaceName, bucketName, objectName: 'cas', putObjectBody: 'v4', contentLength: 2, ifNoneMatch: '*' }),
      412,
      'IfNoneMatchFailed',
    );
    await expectOciError(client.deleteObject({ namespaceName, bucketName, objectName: 'cas', ifMatch: first.eTag }), 412, 'IfMatchFailed');
    const got = await client.getObject({ namespaceName, bucketName, objectName: 'cas' });
    expect(got.eTag).toBe(second.eTag);
    expect((await bodyOf(got.value)).toString()).toBe('v2');
  });

  it('lists names by default, the asked fields, prefixes with delimiter /, and pages with nextStartWith', async () => {
    for (const name of ['list/a', 'list/b', 'list/sub/1', 'list/sub/2', 'list/z', 'other']) {
      await client.putObject({ namespaceName, bucketName, objectName: name, putObjectBody: name, contentLength: name.length });
    }
    const plain = await client.listObjects({ namespaceName, bucketName, prefix: 'list/' });
    expect(plain.listObjects.objects).toEqual(['list/a', 'list/b', 'list/sub/1', 'list/sub/2', 'list/z'].map((name) => ({ name })));

    const withFields = await client.listObjects({ namespaceName, bucketName, prefix: 'list/a', fields: 'name,size,etag,md5,timeCreated' });
    const [a] = withFields.listObjects.objects as [models.ObjectSummary];
    expect(a).toMatchObject({ name: 'list/a', size: 6, md5: createHash('md5').update('list/a').digest('base64') });
    expect(a.etag).toBeTruthy();
    expect(a.timeCreated).toBeTruthy();
    expect(a.timeModified).toBeUndefined();

    const folded = await client.listObjects({ namespaceName, bucketName, prefix: 'list/', delimiter: '/' });
    expect(folded.listObjects.objects.map((o) => o.name)).toEqual(['list/a', 'list/b', 'list/z']);
    expect(folded.listObjects.prefixes).toEqual(['list/sub/']);

    const first = await client.listObjects({ namespaceName, bucketName, prefix: 'list/', limit: 2 });
    expect(first.listObjects.objects.map((o) => o.name)).toEqual(['list/a', 'list/b']);
    expect(first.listObjects.nextStartWith).toBe('list/sub/1');
    const after = await client.listObjects({ namespaceName, bucketName, prefix: 'list/', startAfter: 'list/sub/1' });
    expect(after.listObjects.objects.map((o) => o.name)).toEqual(['list/sub/2', 'list/z']);
  });

  it('round-trips a 20 MB object byte for byte, streamed both ways', async () => {
    const size = 20 * 1000 * 1000;
    const sent = createHash('sha256');
    for (const chunk of pseudoRandomChunks(size)) sent.update(chunk);
    const put = await client.putObject({
      namespaceName,
      bucketName,
      objectName: 'big.bin',
      putObjectBody: Readable.from(pseudoRandomChunks(size)),
      contentLength: size,
    });
    const got = await client.getObject({ namespaceName, bucketName, objectName: 'big.bin' });
    expect(got.contentLength).toBe(size);
    expect(got.eTag).toBe(put.eTag);
    const received = createHash('sha256');
    let receivedBytes = 0;
    for await (const chunk of Readable.fromWeb(got.value as WebReadableStream)) {
      received.update(chunk as Uint8Array);
      receivedBytes += (chunk as Uint8Array).length;
    }
    expect(receivedBytes).toBe(size);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
  }, 30_000);

  it('refuses an object over the size limit with 413, whether its length is declared or chunked, and stores nothing', async () => {
    const declared = await rawRequest(tp.info.endpoint, {
      method: 'PUT',
      path: `/n/${namespaceName}/b/${bucketName}/o/too-big`,
      body: Buffer.alloc(MAX_OBJECT_BYTES + 1),
      headers: { 'content-type': 'application/octet-stream' },
      signWith: { configFile: tp.info.ociConfigFile },
    });
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ code: 'PayloadTooLarge' });

    const par = await client.createPreauthenticatedRequest({
      namespaceName,
      bucketName,
      createPreauthenticatedRequestDetails: { name: 'big', accessType: 'ObjectReadWrite' as never, objectName: 'too-big', timeExpires: new Date(Date.now() + 3600_000) },
    });
    const chunked = await curl(['-T', '-', `${tp.info.endpoint}${par.preauthenticatedRequest.accessUri}`], pseudoRandomChunks(MAX_OBJECT_BYTES + 1024 * 1024));
    expect(chunked.status).toBe(413);
    await expectOciError(client.headObject({ namespaceName, bucketName, objectName: 'too-big' }), 404, 'None');
  }, 30_000);
});

describe('pre-authenticated requests with plain curl', () => {
  let bucketName: string;

  beforeAll(async () => {
    bucketName = await newBucket();
  });

  const createPar = (details: Partial<models.CreatePreauthenticatedRequestDetails>) =>
    client.createPreauthenticatedRequest({
      namespaceName,
      bucketName,
      createPreauthenticatedRequestDetails: {
        name: 'par',
        accessType: 'ObjectReadWrite' as never,
        timeExpires: new Date(Date.now() + 3600_000),
        ...details,
      },
    });

  it('uploads and downloads through an ObjectReadWrite PAR, only for its object', async () => {
    const par = (await createPar({ objectName: 'outputs/run 1.log' })).preauthenticatedRequest;
    expect(par.accessUri).toMatch(new RegExp(`^/p/[A-Za-z0-9_-]{40,}/n/${namespaceName}/b/${bucketName}/o/outputs%2Frun%201\\.log$`));
    expect(par.fullPath).toBe(`${tp.info.endpoint}${par.accessUri}`);
    const url = `${tp.info.endpoint}${par.accessUri}`;
    const file = path.join(tp.dataDir, 'upload.txt');
    writeFileSync(file, 'output of run 1\n');

    const put = await curl(['-T', file, '-H', 'opc-meta-source: curl', url]);
    expect(put.status).toBe(200);
    const stored = await client.getObject({ namespaceName, bucketName, objectName: 'outputs/run 1.log' });
    expect((await bodyOf(stored.value)).toString()).toBe('output of run 1\n');
    expect(stored.opcMeta).toEqual({ 'opc-meta-source': 'curl' });

    const get = await curl([url]);
    expect(get.status).toBe(200);
    expect(get.body.toString()).toBe('output of run 1\n');

    const token = par.accessUri.split('/')[2];
    const other = await curl([`${tp.info.endpoint}/p/${token}/n/${namespaceName}/b/${bucketName}/o/other`]);
    expect(other.status).toBe(404);
    const wrongToken = await curl([url.replace(`/p/${token}/`, `/p/${token}x/`)]);
    expect(wrongToken.status).toBe(404);
  });

  it('lets an ObjectRead PAR read but not write, and AnyObjectWrite write any object but not read', async () => {
    await client.putObject({ namespaceName, bucketName, objectName: 'script.sh', putObjectBody: 'echo hi', contentLength: 7 });
    const read = (await createPar({ accessType: 'ObjectRead' as never, objectName: 'script.sh' })).preauthenticatedRequest;
    expect((await curl([`${tp.info.endpoint}${read.accessUri}`])).body.toString()).toBe('echo hi');
    const file = path.join(tp.dataDir, 'overwrite.txt');
    writeFileSync(file, 'rm -rf /');
    expect((await curl(['-T', file, `${tp.info.endpoint}${read.accessUri}`])).status).toBe(404);

    const write = (await createPar({ accessType: 'AnyObjectWrite' as never })).preauthenticatedRequest;
    expect(write.accessUri.endsWith('/o/')).toBe(true);
    expect((await curl(['-T', file, `${tp.info.endpoint}${write.accessUri}uploads/a.txt`])).status).toBe(200);
    expect((await curl([`${tp.info.endpoint}${write.accessUri}uploads/a.txt`])).status).toBe(404);
    expect((await client.headObject({ namespaceName, bucketName, objectName: 'uploads/a.txt' })).contentLength).toBe(8);
  });

  it('lists the bucket through an AnyObjectRead PAR only when it allows ListObjects', async () => {
    await client.putObject({ namespaceName, bucketName, objectName: 'listed/one', putObjectBody: '1', contentLength: 1 });
    const listing = (await createPar({ accessType: 'AnyObjectRead' as never, bucketListingAction: 'ListObjects' })).preauthenticatedRequest;
    const listed = await curl([`${tp.info.endpoint}${listing.accessUri}?prefix=listed/`]);
    expect(listed.status).toBe(200);
    expect(JSON.parse(listed.body.toString())).toEqual({ objects: [{ name: 'listed/one' }], prefixes: [] });
    expect((await curl(['-I', `${tp.info.endpoint}${listing.accessUri}listed/one`])).status).toBe(200);

    const noListing = (await createPar({ accessType: 'AnyObjectRead' as never })).preauthenticatedRequest;
    expect((await curl([`${tp.info.endpoint}${noListing.accessUri}`])).status).toBe(404);
    expect((await curl([`${tp.info.endpoint}${noListing.accessUri}listed/one`])).body.toString()).toBe('1');
  });

  it('lists and deletes PARs; a deleted PAR answers 404', async () => {
    const par = (await createPar({ name: 'to-delete', objectName: 'x' })).preauthenticatedRequest;
    const listed = await client.listPreauthenticatedRequests({ namespaceName, bucketName });
    expect(listed.items.map((p) => p.id)).toContain(par.id);
    expect(JSON.stringify(listed.items)).not.toContain(par.accessUri.split('/')[2]);
    await client.deletePreauthenticatedRequest({ namespaceName, bucketName, parId: par.id });
    expect((await curl([`${tp.info.endpoint}${par.accessUri}`])).status).toBe(404);
  });

  it('answers 404 once the PAR has expired', async () => {
    await client.putObject({ namespaceName, bucketName, objectName: 'soon', putObjectBody: 'x', contentLength: 1 });
    const par = (await createPar({ accessType: 'ObjectRead' as never, objectName: 'soon', timeExpires: new Date(Date.now() + 120_000) })).preauthenticatedRequest;
    const url = `${tp.info.endpoint}${par.accessUri}`;
    expect((await curl([url])).status).toBe(200);
    // Three minutes later on the platform's clock (signed requests still pass its 5-minute skew check).
    clockOffsetMs = 180_000;
    try {
      expect((await curl([url])).status).toBe(404);
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('refuses a PAR that expires in the past', async () => {
    await expectOciError(createPar({ objectName: 'x', timeExpires: new Date(Date.now() - 1000) }), 400, 'InvalidParameter');
  });
});

describe('authentication and authorization', () => {
  let bucketName: string;

  beforeAll(async () => {
    bucketName = await newBucket();
    await client.putObject({ namespaceName, bucketName, objectName: 'secret', putObjectBody: 's', contentLength: 1 });
  });

  it('answers an unsigned request with 401 and stores nothing from an unsigned PUT', async () => {
    const get = await rawRequest(tp.info.endpoint, { method: 'GET', path: '/n/' });
    expect(get.status).toBe(401);
    expect(get.json).toMatchObject({ code: 'NotAuthenticated' });
    const put = await rawRequest(tp.info.endpoint, { method: 'PUT', path: `/n/${namespaceName}/b/${bucketName}/o/unsigned`, body: 'x' });
    expect(put.status).toBe(401);
    await expectOciError(client.headObject({ namespaceName, bucketName, objectName: 'unsigned' }), 404, 'None');
  });

  it('answers a request signed with another key with 401', async () => {
    const configFile = forgedAdminConfigFile(tp, 'forged-os-config');
    await expectOciError(clientFor(configFile).getNamespace({}), 401, 'NotAuthenticated');
    await expectOciError(
      clientFor(configFile).putObject({ namespaceName, bucketName, objectName: 'forged', putObjectBody: 'x', contentLength: 1 }),
      401,
      'NotAuthenticated',
    );
  });

  it('answers 401 when a signed body hash does not match the body', async () => {
    const res = await rawRequest(tp.info.endpoint, {
      method: 'PUT',
      path: `/n/${namespaceName}/b/${bucketName}/o/tampered`,
      body: 'original',
      headers: { 'content-type': 'text/plain' },
      signWith: { configFile: tp.info.ociConfigFile },
      tamper: (r) => {
        r.body = Buffer.from('replaced');
      },
    });
    expect(res.status).toBe(401);
    await expectOciError(client.headObject({ namespaceName, bucketName, objectName: 'tampered' }), 404, 'None');
  });

  it('gives a user limited to another compartment 404 on this bucket, and its own bucket', async () => {
    const otherCompartment = await addCompartment(tp.dataDir, 'os-other');
    const limited = clientFor((await addRestrictedUser(tp.dataDir, 'os-limited', [otherCompartment])).ociConfigFile);
    await expectOciError(limited.getObject({ namespaceName, bucketName, objectName: 'secret' }), 404, 'BucketNotFound');
    await expectOciError(limited.putObject({ namespaceName, bucketName, objectName: 'mine', putObjectBody: 'x', contentLength: 1 }), 404, 'BucketNotFound');
    await expectOciError(limited.listObjects({ namespaceName, bucketName }), 404, 'BucketNotFound');
    await expectOciError(limited.deleteBucket({ namespaceName, bucketName }), 404, 'BucketNotFound');
    await expectOciError(limited.listBuckets({ namespaceName, compartmentId: tp.info.compartmentId }), 404, 'NotAuthorizedOrNotFound');
    await expectOciError(
      limited.createBucket({ namespaceName, createBucketDetails: { name: 'not-mine', compartmentId: tp.info.compartmentId } }),
      404,
      'NotAuthorizedOrNotFound',
    );
    const own = await newBucket(otherCompartment, limited);
    await limited.putObject({ namespaceName, bucketName: own, objectName: 'mine', putObjectBody: 'x', contentLength: 1 });
    expect((await limited.listObjects({ namespaceName, bucketName: own })).listObjects.objects).toEqual([{ name: 'mine' }]);
  });

  it('lets an instance get, head and put objects in its compartment’s buckets, and nothing else', async () => {
    const instance = new ObjectStorageClient(instanceClientParams(tp, 'oci-config'));
    instance.endpoint = tp.info.endpoint;
    expect((await bodyOf((await instance.getObject({ namespaceName, bucketName, objectName: 'secret' })).value)).toString()).toBe('s');
    expect((await instance.headObject({ namespaceName, bucketName, objectName: 'secret' })).contentLength).toBe(1);
    await instance.putObject({ namespaceName, bucketName, objectName: 'outputs/by-instance', putObjectBody: 'out', contentLength: 3 });
    expect((await client.headObject({ namespaceName, bucketName, objectName: 'outputs/by-instance' })).contentLength).toBe(3);

    await expectOciError(instance.listObjects({ namespaceName, bucketName }), 404, 'BucketNotFound');
    await expectOciError(instance.deleteObject({ namespaceName, bucketName, objectName: 'secret' }), 404, 'BucketNotFound');
    await expectOciError(instance.getBucket({ namespaceName, bucketName }), 404, 'BucketNotFound');
    await expectOciError(
      instance.createPreauthenticatedRequest({
        namespaceName,
        bucketName,
        createPreauthenticatedRequestDetails: { name: 'x', accessType: 'AnyObjectRead' as never, timeExpires: new Date(Date.now() + 60_000) },
      }),
      404,
      'BucketNotFound',
    );
    const elsewhere = await newBucket(await addCompartment(tp.dataDir, 'not-the-instances'));
    await client.putObject({ namespaceName, bucketName: elsewhere, objectName: 'x', putObjectBody: 'x', contentLength: 1 });
    await expectOciError(instance.getObject({ namespaceName, bucketName: elsewhere, objectName: 'x' }), 404, 'BucketNotFound');
    await expectOciError(instance.getObject({ namespaceName, bucketName: 'runcommand-iam', objectName: 'x' }), 404, 'BucketNotFound');
  });
});
