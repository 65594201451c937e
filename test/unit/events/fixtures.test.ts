/**
 * Every fixture in `events/fixtures/` parses with the parser its consumer uses, and the invalid ones are refused
 * naming the field. A fixture file nobody checks fails the last test.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  InvalidMessageError,
  parseAgentReport,
  parseCreateObjectEvent,
  parseExecutionChangedMessage,
  parseInstanceStreamMessage,
  parseSweepRequest,
} from '../../../events/parse';
import { dropRetryToken } from '../../../shared/app/object-events';
import { ServiceError } from '../../../shared/domain/errors';
import { eventObject, parseScriptDrop } from '../../../shared/domain/object-event';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'events', 'fixtures');
const checked = new Set<string>();

function raw(name: string): Buffer {
  checked.add(name);
  return readFileSync(path.join(FIXTURES, name));
}

function json(name: string): unknown {
  return JSON.parse(raw(name).toString('utf8'));
}

function refusal(run: () => unknown): Error {
  try {
    run();
  } catch (e) {
    if (e instanceof ServiceError || e instanceof InvalidMessageError) return e;
    throw e;
  }
  throw new Error('expected the fixture to be refused');
}

const TRIGGER = { bucketName: 'runcommand-scripts', prefix: 'scripts' };

describe('events/fixtures', () => {
  it('createobject for an output object: the CloudEvents 0.1 envelope and its data', () => {
    const event = parseCreateObjectEvent(json('createobject-output-object.json'));
    expect(event).toMatchObject({
      cloudEventsVersion: '0.1',
      eventType: 'com.oraclecloud.objectstorage.createobject',
      extensions: { compartmentId: 'ocid1.compartment.oc1..exampleuniqueid' },
    });
    expect(eventObject(event)).toEqual({
      namespaceName: 'rcexample01',
      bucketName: 'job-outputs',
      objectName: 'outputs/nightly-backup.log',
      etag: 'a1b2c3d4-0000-4000-8000-00000000beef',
    });
  });

  it('createobject for a trigger drop names an instance under the prefix, and its duplicate delivery is the same event', () => {
    const drop = parseCreateObjectEvent(json('createobject-trigger-drop.json'));
    expect(parseScriptDrop(TRIGGER, eventObject(drop), {}, drop.eventID)).toMatchObject({
      instanceId: 'ocid1.instance.oc1..exampleinstance',
      executionTimeOutInSeconds: 3600,
      output: { outputType: 'TEXT' },
    });
    const again = parseCreateObjectEvent(json('createobject-duplicate-delivery.json'));
    expect(again).toEqual(drop);
    expect(dropRetryToken(again.eventID, again.data.additionalDetails.eTag)).toBe(dropRetryToken(drop.eventID, drop.data.additionalDetails.eTag));
  });

  it('an invalid drop parses as an event but is refused as a drop, naming the object name', () => {
    const event = parseCreateObjectEvent(json('createobject-invalid-drop.json'));
    expect(refusal(() => parseScriptDrop(TRIGGER, eventObject(event), {}, event.eventID)).message).toContain("'data.resourceName'");
  });

  it('a createobject without an ETag is refused, naming data.additionalDetails.eTag', () => {
    expect(refusal(() => parseCreateObjectEvent(json('createobject-invalid-envelope-data.json'))).message).toContain("'data.additionalDetails.eTag'");
  });

  it('the retention-sweep scheduler body', () => {
    expect(parseSweepRequest(json('scheduler-retention-sweep.json'))).toMatchObject({
      maxDeletions: 500,
      maxExamined: 2000,
      policy: { deliveryWindowMs: 3600_000, graceMs: 60_000, textRetentionMs: 7 * 86_400_000 },
    });
  });

  it('command.issued and command.cancel-requested on the instance stream', () => {
    expect(parseInstanceStreamMessage(raw('command-issued.json'))).toEqual(json('command-issued.json'));
    expect(parseInstanceStreamMessage(raw('command-cancel-requested.json'))).toEqual(json('command-cancel-requested.json'));
  });

  it('execution.changed on the execution-events stream', () => {
    expect(parseExecutionChangedMessage(raw('execution-changed.json'))).toEqual(json('execution-changed.json'));
  });

  it.each(['receive', 'ack', 'start', 'finish', 'finish-failed'])('an agent report: %s', (kind) => {
    const name = `agent-report-${kind}.json`;
    expect(parseAgentReport(json(name))).toEqual(json(name));
  });

  it('covers every fixture file', () => {
    expect(readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()).toEqual([...checked].sort());
  });
});
