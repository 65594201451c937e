/**
 * The instanceagent 20180530 API end to end: Oracle's own ComputeInstanceAgentClient (authenticated from the OCI
 * config file the platform writes) against a running platform whose functions run under the real FDK.
 */
import type { ComputeInstanceAgentClient } from 'oci-computeinstanceagent';
import type { models } from 'oci-computeinstanceagent';
import { addCompartment, addRestrictedUser } from '../../platform/admin';
import { agentCommandClient, expectOciError, forgedAdminConfigFile, rawRequest, startTestPlatform, type TestPlatform } from '../support/platform';

let tp: TestPlatform;
let client: ComputeInstanceAgentClient;
let admin: { configFile: string };

beforeAll(async () => {
  tp = await startTestPlatform();
  client = agentCommandClient(tp.info.endpoint, tp.info.ociConfigFile);
  admin = { configFile: tp.info.ociConfigFile };
}, 60_000);

afterAll(async () => {
  await tp?.stop();
});

function details(overrides: Partial<models.CreateInstanceAgentCommandDetails> = {}): models.CreateInstanceAgentCommandDetails {
  return {
    compartmentId: tp.info.compartmentId,
    executionTimeOutInSeconds: 60,
    displayName: 'uptime',
    target: { instanceId: tp.info.localInstanceId },
    content: { source: { sourceType: 'TEXT', text: 'uptime' } as models.InstanceAgentCommandSourceViaTextDetails },
    ...overrides,
  };
}

const create = (d: models.CreateInstanceAgentCommandDetails, opcRetryToken?: string) =>
  client.createInstanceAgentCommand({ createInstanceAgentCommandDetails: d, ...(opcRetryToken ? { opcRetryToken } : {}) });

describe('the six operations through ComputeInstanceAgentClient', () => {
  it('creates, reads, lists and cancels a command as OCI does', async () => {
    const created = await create(details({ displayName: 'six ops' }));
    const cmd = created.instanceAgentCommand;
    expect(cmd.id).toMatch(/^ocid1\.instanceagentcommand\./);
    expect(created.etag).toBeTruthy();
    expect(created.opcRequestId).toBeTruthy();
    expect(cmd).toMatchObject({
      compartmentId: tp.info.compartmentId,
      displayName: 'six ops',
      isCanceled: false,
      executionTimeOutInSeconds: 60,
      target: { instanceId: tp.info.localInstanceId },
      content: { source: { sourceType: 'TEXT', text: 'uptime' }, output: { outputType: 'TEXT' } },
    });
    expect(String(cmd.timeCreated)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    // Readable the moment create returns.
    const got = await client.getInstanceAgentCommand({ instanceAgentCommandId: cmd.id });
    expect(got.instanceAgentCommand).toEqual(cmd);
    expect(got.etag).toBe(created.etag);

    const execution = await client.getInstanceAgentCommandExecution({ instanceAgentCommandId: cmd.id, instanceId: tp.info.localInstanceId });
    expect(execution.etag).toBeTruthy();
    expect(execution.instanceAgentCommandExecution).toMatchObject({
      instanceAgentCommandId: cmd.id,
      instanceId: tp.info.localInstanceId,
      deliveryState: 'VISIBLE',
      lifecycleState: 'ACCEPTED',
      displayName: 'six ops',
      content: { outputType: 'TEXT', exitCode: null },
    });
    expect(execution.instanceAgentCommandExecution.sequenceNumber).toBeGreaterThan(0);

    const listed = await client.listInstanceAgentCommands({ compartmentId: tp.info.compartmentId, limit: 1000 });
    expect(listed.items.map((i) => i.instanceAgentCommandId)).toContain(cmd.id);
    const executions = await client.listInstanceAgentCommandExecutions({
      compartmentId: tp.info.compartmentId,
      instanceId: tp.info.localInstanceId,
      limit: 1000,
    });
    expect(executions.items.map((i) => i.instanceAgentCommandId)).toContain(cmd.id);

    await client.cancelInstanceAgentCommand({ instanceAgentCommandId: cmd.id });
    const afterCancel = await client.getInstanceAgentCommand({ instanceAgentCommandId: cmd.id });
    expect(afterCancel.instanceAgentCommand.isCanceled).toBe(true);
    expect(afterCancel.etag).not.toBe(created.etag);
    const canceled = await client.getInstanceAgentCommandExecution({ instanceAgentCommandId: cmd.id, instanceId: tp.info.localInstanceId });
    // Queued when canceled: it becomes CANCELED without any agent.
    expect(canceled.instanceAgentCommandExecution).toMatchObject({ lifecycleState: 'CANCELED', deliveryState: 'VISIBLE' });

    // Cancel is best effort: canceling a finished command still succeeds and changes nothing.
    await client.cancelInstanceAgentCommand({ instanceAgentCommandId: cmd.id });
    expect((await client.getInstanceAgentCommand({ instanceAgentCommandId: cmd.id })).etag).toBe(afterCancel.etag);
  });

  it('echoes the caller’s opc-request-id', async () => {
    const res = await client.listInstanceAgentCommands({ compartmentId: tp.info.compartmentId, limit: 1, opcRequestId: 'REQ-12345' });
    expect(res.opcRequestId).toBe('REQ-12345');
  });
});

describe('pagination', () => {
  const total = 250;
  let compartmentId: string;
  let names: string[];

  beforeAll(async () => {
    compartmentId = await addCompartment(tp.dataDir, 'paging');
    // Names in an order unrelated to creation order, with mixed case (sorting is case-sensitive, by bytes).
    names = Array.from({ length: total }, (_, i) => `${i % 3 === 0 ? 'Job' : 'job'}-${String((i * 7919) % total).padStart(3, '0')}`);
    for (let i = 0; i < total; i += 25) {
      await Promise.all(names.slice(i, i + 25).map((displayName) => create(details({ compartmentId, displayName }))));
    }
  }, 120_000);

  async function walk(sortBy: 'TIMECREATED' | 'DISPLAYNAME', sortOrder: 'ASC' | 'DESC') {
    const items: models.InstanceAgentCommandSummary[] = [];
    let page: string | undefined;
    let pages = 0;
    do {
      const res = await client.listInstanceAgentCommands({
        compartmentId,
        limit: 37,
        sortBy: sortBy as never,
        sortOrder: sortOrder as never,
        ...(page ? { page } : {}),
      });
      expect(res.items.length).toBeLessThanOrEqual(37);
      items.push(...res.items);
      page = res.opcNextPage;
      if (page) expect(page).toMatch(/^[A-Za-z0-9_-]+$/);
      pages++;
    } while (page);
    return { items, pages };
  }

  it.each([
    ['TIMECREATED', 'ASC'],
    ['TIMECREATED', 'DESC'],
    ['DISPLAYNAME', 'ASC'],
    ['DISPLAYNAME', 'DESC'],
  ] as const)('walks all 250 commands by %s %s with no gap or duplicate', async (sortBy, sortOrder) => {
    const { items, pages } = await walk(sortBy, sortOrder);
    expect(pages).toBe(Math.ceil(total / 37));
    expect(new Set(items.map((i) => i.instanceAgentCommandId)).size).toBe(total);
    if (sortBy === 'DISPLAYNAME') {
      const expected = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      if (sortOrder === 'DESC') expected.reverse();
      expect(items.map((i) => i.displayName)).toEqual(expected);
    } else {
      const times = items.map((i) => Date.parse(String(i.timeCreated)));
      const sorted = [...times].sort((a, b) => (sortOrder === 'ASC' ? a - b : b - a));
      expect(times).toEqual(sorted);
    }
  });

  it('gives the exact reverse order for DESC', async () => {
    const asc = (await walk('TIMECREATED', 'ASC')).items.map((i) => i.instanceAgentCommandId);
    const desc = (await walk('TIMECREATED', 'DESC')).items.map((i) => i.instanceAgentCommandId);
    expect(desc).toEqual([...asc].reverse());
  });

  it('follows opc-next-page with the SDK record iterator (the default sort is TIMECREATED DESC)', async () => {
    const ids: string[] = [];
    for await (const item of client.listInstanceAgentCommandsRecordIterator({ compartmentId, limit: 100 })) ids.push(item.instanceAgentCommandId);
    expect(ids).toEqual((await walk('TIMECREATED', 'DESC')).items.map((i) => i.instanceAgentCommandId));
  });

  it('pages executions of an instance too', async () => {
    const ids: string[] = [];
    let page: string | undefined;
    do {
      const res = await client.listInstanceAgentCommandExecutions({
        compartmentId,
        instanceId: tp.info.localInstanceId,
        limit: 100,
        ...(page ? { page } : {}),
      });
      ids.push(...res.items.map((i) => i.instanceAgentCommandId));
      page = res.opcNextPage;
    } while (page);
    expect(new Set(ids).size).toBe(total);
  });

  it('rejects a malformed page token with 400 InvalidParameter', async () => {
    await expectOciError(client.listInstanceAgentCommands({ compartmentId, page: 'not-a-token' }), 400, 'InvalidParameter');
  });
});

describe('lifecycleState filter', () => {
  it('matches case-insensitively (the TS client sends it as given)', async () => {
    const compartmentId = await addCompartment(tp.dataDir, 'filter');
    const a = await create(details({ compartmentId, displayName: 'stays accepted' }));
    const b = await create(details({ compartmentId, displayName: 'gets canceled' }));
    await client.cancelInstanceAgentCommand({ instanceAgentCommandId: b.instanceAgentCommand.id });
    const accepted = await client.listInstanceAgentCommandExecutions({
      compartmentId,
      instanceId: tp.info.localInstanceId,
      lifecycleState: 'accepted' as never,
    });
    expect(accepted.items.map((i) => i.instanceAgentCommandId)).toEqual([a.instanceAgentCommand.id]);
    const canceled = await client.listInstanceAgentCommandExecutions({
      compartmentId,
      instanceId: tp.info.localInstanceId,
      lifecycleState: 'Canceled' as never,
    });
    expect(canceled.items.map((i) => i.instanceAgentCommandId)).toEqual([b.instanceAgentCommand.id]);
  });
});

describe('opc-retry-token and if-match', () => {
  it('returns the original command for a replayed token and refuses the token with another body', async () => {
    const first = await create(details({ displayName: 'retry me' }), 'token-replay-1');
    const again = await create(details({ displayName: 'retry me' }), 'token-replay-1');
    expect(again.instanceAgentCommand.id).toBe(first.instanceAgentCommand.id);
    expect(again.instanceAgentCommand).toEqual(first.instanceAgentCommand);
    await expectOciError(create(details({ displayName: 'something else' }), 'token-replay-1'), 409, 'InvalidatedRetryToken');
    // Without a shared token, the same body makes a new command.
    const other = await create(details({ displayName: 'retry me' }), 'token-replay-2');
    expect(other.instanceAgentCommand.id).not.toBe(first.instanceAgentCommand.id);
  });

  it('answers 412 NoEtagMatch to a cancel whose if-match is stale, and cancels with the current etag', async () => {
    const created = await create(details({ displayName: 'if-match' }));
    const id = created.instanceAgentCommand.id;
    await expectOciError(client.cancelInstanceAgentCommand({ instanceAgentCommandId: id, ifMatch: 'stale-etag' }), 412, 'NoEtagMatch');
    expect((await client.getInstanceAgentCommand({ instanceAgentCommandId: id })).instanceAgentCommand.isCanceled).toBe(false);
    await client.cancelInstanceAgentCommand({ instanceAgentCommandId: id, ifMatch: created.etag });
    expect((await client.getInstanceAgentCommand({ instanceAgentCommandId: id })).instanceAgentCommand.isCanceled).toBe(true);
  });
});

describe('error bodies', () => {
  const post = (body: string, extra: Partial<Parameters<typeof rawRequest>[1]> = {}) =>
    rawRequest(tp.info.endpoint, { method: 'POST', path: '/20180530/instanceAgentCommands', body, signWith: admin, ...extra });
  const validBody = () => JSON.stringify(details());

  it('400 CannotParseRequest for malformed JSON', async () => {
    const res = await post('{"compartmentId": ');
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: 'CannotParseRequest' });
    expect(res.headers['opc-request-id']).toBeTruthy();
  });

  it('400 MissingParameter naming the missing field', async () => {
    const d = details() as unknown as Record<string, unknown>;
    delete d.executionTimeOutInSeconds;
    const res = await post(JSON.stringify(d));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: 'MissingParameter', message: expect.stringContaining('executionTimeOutInSeconds') });
  });

  it('400 InvalidParameter for a TEXT script of 4097 bytes (4096 is accepted)', async () => {
    const at = (n: number) => details({ content: { source: { sourceType: 'TEXT', text: 'x'.repeat(n) } as never } });
    await expect(create(at(4096))).resolves.toBeTruthy();
    await expectOciError(create(at(4097)), 400, 'InvalidParameter');
  });

  it('400 InvalidParameter for a timeout of 86401 (86400 is accepted)', async () => {
    await expect(create(details({ executionTimeOutInSeconds: 86400 }))).resolves.toBeTruthy();
    const e = await expectOciError(create(details({ executionTimeOutInSeconds: 86401 })), 400, 'InvalidParameter');
    expect(e.message).toContain('executionTimeOutInSeconds');
  });

  it('404 NotAuthorizedOrNotFound for an unknown id', async () => {
    const e = await expectOciError(
      client.getInstanceAgentCommand({ instanceAgentCommandId: 'ocid1.instanceagentcommand.oc1..doesnotexist' }),
      404,
      'NotAuthorizedOrNotFound',
    );
    expect(e.message).toContain('Authorization failed or requested resource not found');
  });

  it('404 NotAuthorizedOrNotFound for a user without access to the compartment', async () => {
    const other = await addCompartment(tp.dataDir, 'other-team');
    const limited = await addRestrictedUser(tp.dataDir, 'limited', [other]);
    const limitedClient = agentCommandClient(tp.info.endpoint, limited.ociConfigFile);
    const adminCommand = await create(details({ displayName: 'admin only' }));
    await expectOciError(
      limitedClient.getInstanceAgentCommand({ instanceAgentCommandId: adminCommand.instanceAgentCommand.id }),
      404,
      'NotAuthorizedOrNotFound',
    );
    await expectOciError(limitedClient.listInstanceAgentCommands({ compartmentId: tp.info.compartmentId }), 404, 'NotAuthorizedOrNotFound');
    await expectOciError(limitedClient.cancelInstanceAgentCommand({ instanceAgentCommandId: adminCommand.instanceAgentCommand.id }), 404, 'NotAuthorizedOrNotFound');
    await expectOciError(limitedClient.createInstanceAgentCommand({ createInstanceAgentCommandDetails: details() }), 404, 'NotAuthorizedOrNotFound');
    // In its own compartment the limited user works normally.
    const own = await limitedClient.listInstanceAgentCommands({ compartmentId: other });
    expect(own.items).toEqual([]);
  });

  it('401 NotAuthenticated for a missing signature', async () => {
    const res = await rawRequest(tp.info.endpoint, { method: 'GET', path: `/20180530/instanceAgentCommands?compartmentId=${tp.info.compartmentId}` });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ code: 'NotAuthenticated' });
  });

  it('401 NotAuthenticated for a signature made with another key', async () => {
    // The admin's keyId, signed with a key the platform never saw.
    const res = await post(validBody(), { signWith: { configFile: forgedAdminConfigFile(tp, 'forged-config') } });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ code: 'NotAuthenticated' });
  });

  it('401 NotAuthenticated for a body changed after signing', async () => {
    const res = await post(validBody(), {
      tamper: (r) => {
        r.body = Buffer.from(r.body.toString('utf8').replace('uptime', 'reboot'));
      },
    });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ code: 'NotAuthenticated' });
  });

  it('401 NotAuthenticated for a date 10 minutes off', async () => {
    const res = await post(validBody(), { signedAtMs: Date.now() - 10 * 60 * 1000 });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ code: 'NotAuthenticated' });
  });

  it('404 NotFound for an unknown path and 405 for a wrong method', async () => {
    const unknown = await rawRequest(tp.info.endpoint, { method: 'GET', path: '/20180530/nothingHere', signWith: admin });
    expect(unknown.status).toBe(404);
    const wrong = await rawRequest(tp.info.endpoint, { method: 'PUT', path: '/20180530/instanceAgentCommands', body: '{}', signWith: admin });
    expect(wrong.status).toBe(405);
    expect(wrong.json).toMatchObject({ code: 'MethodNotAllowed' });
  });
});

describe('robustness', () => {
  it('50 concurrent creates and 50 concurrent cancels lose no update and answer no 5xx', async () => {
    const compartmentId = await addCompartment(tp.dataDir, 'concurrency');
    const created = await Promise.all(Array.from({ length: 50 }, (_, i) => create(details({ compartmentId, displayName: `c${i}` }))));
    const ids = created.map((c) => c.instanceAgentCommand.id);
    expect(new Set(ids).size).toBe(50);
    await Promise.all(ids.map((id) => client.cancelInstanceAgentCommand({ instanceAgentCommandId: id })));
    const executions = await client.listInstanceAgentCommandExecutions({ compartmentId, instanceId: tp.info.localInstanceId, limit: 100 });
    expect(executions.items).toHaveLength(50);
    expect(executions.items.every((e) => e.lifecycleState === 'CANCELED')).toBe(true);
    const commands = await client.listInstanceAgentCommands({ compartmentId, limit: 100 });
    expect(commands.items.every((c) => c.isCanceled)).toBe(true);
  }, 60_000);

  it('answers every malformed request with a 4xx and never kills a function process', async () => {
    const id = (await create(details())).instanceAgentCommand.id;
    const cases: Array<Parameters<typeof rawRequest>[1]> = [
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: '', signWith: admin },
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: 'null', signWith: admin },
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: '[]', signWith: admin },
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: '"x"', signWith: admin },
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: '{"content":{"source":{"sourceType":"NOPE"}}}', signWith: admin },
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: Buffer.from([0xff, 0xfe, 0x00, 0x7b]), signWith: admin },
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: JSON.stringify({ ...details(), executionTimeOutInSeconds: '60' }), signWith: admin },
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: JSON.stringify({ ...details(), target: { instanceId: 'ocid1.instance.oc1..unknown' } }), signWith: admin },
      { method: 'POST', path: '/20180530/instanceAgentCommands', body: 'x'.repeat(200_000), signWith: admin },
      { method: 'GET', path: '/20180530/instanceAgentCommands', signWith: admin },
      { method: 'GET', path: `/20180530/instanceAgentCommands?compartmentId=${tp.info.compartmentId}&limit=0`, signWith: admin },
      { method: 'GET', path: `/20180530/instanceAgentCommands?compartmentId=${tp.info.compartmentId}&limit=abc`, signWith: admin },
      { method: 'GET', path: `/20180530/instanceAgentCommands?compartmentId=${tp.info.compartmentId}&sortBy=SIZE`, signWith: admin },
      { method: 'GET', path: `/20180530/instanceAgentCommands?compartmentId=${tp.info.compartmentId}&page=%00%01`, signWith: admin },
      { method: 'GET', path: `/20180530/instanceAgentCommandExecutions?compartmentId=${tp.info.compartmentId}`, signWith: admin },
      { method: 'GET', path: `/20180530/instanceAgentCommandExecutions?compartmentId=${tp.info.compartmentId}&instanceId=${tp.info.localInstanceId}&lifecycleState=RUNNING`, signWith: admin },
      { method: 'GET', path: `/20180530/instanceAgentCommands/${id}/status`, signWith: admin },
      { method: 'GET', path: '/20180530/instanceAgentCommands/%E0%A4%A', signWith: admin },
      { method: 'GET', path: `/20180530/instanceAgentCommands/${'a'.repeat(300)}`, signWith: admin },
      { method: 'DELETE', path: '/20180530/instanceAgentCommands/ocid1.instanceagentcommand.oc1..nope', signWith: admin },
      { method: 'POST', path: '/20180530/agent/reports', body: '{}', signWith: admin },
      { method: 'GET', path: '/20180530/instanceAgentCommands', headers: { authorization: 'Signature garbage' } },
      { method: 'GET', path: '/20180530/instanceAgentCommands', headers: { authorization: 'Signature keyId="a/b/c",headers="x",signature="!!"' } },
    ];
    for (const c of cases) {
      const res = await rawRequest(tp.info.endpoint, c);
      if (res.status < 400 || res.status >= 500) throw new Error(`${c.method} ${c.path} answered ${res.status}: ${res.body}`);
      expect(res.json).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
    const stats = tp.platform.functionStats();
    for (const s of Object.values(stats)) expect(s.crashed).toBe(0);
  });
});
