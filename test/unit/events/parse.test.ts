import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidMessageError, parseCreateObjectEvent, parseExecutionChangedMessage } from '../../../events/parse';
import { ServiceError } from '../../../shared/domain/errors';
import { createObjectEvent, outputTargetOf, parseScriptDrop } from '../../../shared/domain/object-event';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'events', 'fixtures');
const fixture = (name: string) => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as Record<string, unknown>;

function refusedField(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    if (e instanceof InvalidMessageError) return e.field ?? '';
    if (e instanceof ServiceError) return /'([^']+)'/.exec(e.message)?.[1] ?? e.message;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('parseCreateObjectEvent', () => {
  const drop = fixture('createobject-trigger-drop.json');
  const data = drop.data as Record<string, unknown>;

  it('accepts what the platform emits', () => {
    const event = createObjectEvent({
      eventId: 'e1',
      eventTime: '2026-01-01T00:00:00.000Z',
      compartmentId: 'ocid1.compartment.oc1..c',
      namespaceName: 'ns',
      bucketName: 'b',
      bucketId: 'ocid1.bucket.oc1..b',
      objectName: 'a/b c.txt',
      etag: 'etag-1',
    });
    expect(parseCreateObjectEvent(JSON.parse(JSON.stringify(event)))).toMatchObject({
      eventID: 'e1',
      data: { resourceName: 'a/b c.txt', resourceId: '/n/ns/b/b/o/a/b c.txt', additionalDetails: { eTag: 'etag-1', bucketId: 'ocid1.bucket.oc1..b' } },
    });
  });

  it.each([
    ['a CloudEvents 1.0 envelope', { ...drop, cloudEventsVersion: undefined, specversion: '1.0' }, 'cloudEventsVersion'],
    ['no eventID', { ...drop, eventID: undefined }, 'eventID'],
    ['an eventTime that is not RFC 3339', { ...drop, eventTime: 'yesterday' }, 'eventTime'],
    ['no compartment extension', { ...drop, extensions: {} }, 'extensions.compartmentId'],
    ['another event type', { ...drop, eventType: 'com.oraclecloud.objectstorage.deleteobject' }, 'eventType'],
    ['no data', { ...drop, data: undefined }, 'data'],
    ['no object name', { ...drop, data: { ...data, resourceName: '' } }, 'data.resourceName'],
    ['no bucket name', { ...drop, data: { ...data, additionalDetails: { eTag: 'e', namespace: 'n' } } }, 'data.additionalDetails.bucketName'],
  ])('refuses %s, naming the field', (_name, input, field) => {
    expect(refusedField(() => parseCreateObjectEvent(input))).toBe(field);
  });

  it('does not rely on resourceId (older OCI samples leave it empty)', () => {
    expect(parseCreateObjectEvent({ ...drop, data: { ...data, resourceId: '' } }).data.resourceName).toBe(data.resourceName);
  });
});

describe('parseExecutionChangedMessage', () => {
  const message = fixture('execution-changed.json');
  const execution = message.execution as Record<string, unknown>;
  const parse = (v: unknown) => parseExecutionChangedMessage(Buffer.from(JSON.stringify(v)));

  it.each([
    ['another type', { ...message, type: 'command.issued' }, 'type'],
    ['an unknown lifecycle state', { ...message, execution: { ...execution, lifecycleState: 'DONE' } }, 'execution.lifecycleState'],
    ['a non-integer exit code', { ...message, execution: { ...execution, content: { outputType: 'TEXT', exitCode: 1.5 } } }, 'execution.content.exitCode'],
    ['a tuple output without an object name', { ...message, execution: { ...execution, content: { outputType: 'OBJECT_STORAGE_TUPLE', bucketName: 'b', namespaceName: 'n', exitCode: 0 } } }, 'execution.content.objectName'],
  ])('refuses %s, naming the field', (_name, input, field) => {
    expect(refusedField(() => parse(input))).toBe(field);
  });

  it('refuses what is not JSON', () => {
    expect(() => parseExecutionChangedMessage(Buffer.from('{'))).toThrow(InvalidMessageError);
  });
});

describe('parseScriptDrop', () => {
  const trigger = { bucketName: 'scripts-bucket', prefix: 'drop/here' };
  const at = (objectName: string) => ({ namespaceName: 'ns', bucketName: 'scripts-bucket', objectName });

  it('reads the instance from the path under a multi-segment prefix and defaults the rest', () => {
    expect(parseScriptDrop(trigger, at('drop/here/ocid1.instance.oc1..i/dir/x.sh'), {}, 'ev')).toEqual({
      instanceId: 'ocid1.instance.oc1..i',
      executionTimeOutInSeconds: 3600,
      displayName: 'drop/here/ocid1.instance.oc1..i/dir/x.sh',
      output: { outputType: 'TEXT' },
    });
  });

  it('defaults the output object, unique per event, outside the trigger prefix', () => {
    const drop = parseScriptDrop(trigger, at('drop/here/ocid1.instance.oc1..i/x.sh'), { 'output-bucket': 'scripts-bucket' }, 'ev-7');
    expect(drop.output).toEqual({ outputType: 'OBJECT_STORAGE_TUPLE', namespaceName: 'ns', bucketName: 'scripts-bucket', objectName: 'outputs/ocid1.instance.oc1..i/x.sh.ev-7.out' });
  });

  it('cuts a long object name to the last 255 characters for the default display name, and accepts timeout 0', () => {
    const name = `drop/here/ocid1.instance.oc1..i/${'d/'.repeat(200)}x.sh`;
    const drop = parseScriptDrop(trigger, at(name), { 'timeout-in-seconds': '0' }, 'ev');
    expect(drop.displayName).toBe(name.slice(-255));
    expect(drop.executionTimeOutInSeconds).toBe(0);
  });

  it('refuses an object in another bucket', () => {
    expect(refusedField(() => parseScriptDrop(trigger, { ...at('drop/here/ocid1.instance.oc1..i/x.sh'), bucketName: 'other' }, {}, 'ev'))).toBe('data.resourceName');
  });
});

describe('outputTargetOf', () => {
  it('reads tuples, native URIs and PAR URIs (percent-encoded names), and nothing from TEXT', () => {
    const target = { namespaceName: 'ns', bucketName: 'b', objectName: 'a/b.log' };
    expect(outputTargetOf({ outputType: 'OBJECT_STORAGE_TUPLE', ...target })).toEqual(target);
    expect(outputTargetOf({ outputType: 'OBJECT_STORAGE_URI', outputUri: 'https://objectstorage.r.oraclecloud.com/n/ns/b/b/o/a%2Fb.log' })).toEqual(target);
    expect(outputTargetOf({ outputType: 'OBJECT_STORAGE_URI', outputUri: 'http://127.0.0.1:8530/p/tok/n/ns/b/b/o/a/b.log' })).toEqual(target);
    expect(outputTargetOf({ outputType: 'OBJECT_STORAGE_URI', outputUri: 'https://example.com/elsewhere' })).toBeUndefined();
    expect(outputTargetOf({ outputType: 'TEXT' })).toBeUndefined();
  });
});
