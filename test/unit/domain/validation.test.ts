import { ServiceError, type ErrorCode } from '../../../shared/domain/errors';
import { thrownServiceError } from '../../support/errors';
import {
  parseLifecycleStateFilter,
  parseLimit,
  parseOcidParam,
  parseSortBy,
  parseSortOrder,
  validateCreateDetails,
  validateRetryToken,
} from '../../../shared/domain/validation';

const COMPARTMENT = 'ocid1.compartment.oc1..aaaacompartment';
const INSTANCE = 'ocid1.instance.oc1.iad.aaaainstance';

function valid(): Record<string, unknown> {
  return {
    compartmentId: COMPARTMENT,
    executionTimeOutInSeconds: 3600,
    displayName: 'Database Backup Script',
    target: { instanceId: INSTANCE },
    content: { source: { sourceType: 'TEXT', text: 'uptime' }, output: { outputType: 'TEXT' } },
  };
}

/** Sets `value` at a dotted path of a fresh valid body (`undefined` deletes the key). */
function withField(path: string, value: unknown): Record<string, unknown> {
  const body = valid();
  const keys = path.split('.');
  let node: Record<string, unknown> = body;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return body;
}

const errorOf = thrownServiceError;

/** The field an error names: the first single-quoted path in its message. */
function namedField(e: ServiceError): string | undefined {
  return /'([^']+)'/.exec(e.message)?.[1];
}

describe('validateCreateDetails', () => {
  it('accepts a full TEXT command and echoes only the known fields', () => {
    const body: Record<string, unknown> = { ...valid(), unknownTopLevel: 1 };
    (body.content as Record<string, unknown>).extra = true;
    (body.target as Record<string, unknown>).extra = 'x';
    expect(validateCreateDetails(body)).toEqual({
      compartmentId: COMPARTMENT,
      executionTimeOutInSeconds: 3600,
      displayName: 'Database Backup Script',
      target: { instanceId: INSTANCE },
      content: { source: { sourceType: 'TEXT', text: 'uptime' }, output: { outputType: 'TEXT' } },
    });
  });

  it('defaults content.output to TEXT and leaves out an absent displayName', () => {
    const body = withField('content.output', undefined);
    delete body.displayName;
    const spec = validateCreateDetails(body);
    expect(spec.content.output).toEqual({ outputType: 'TEXT' });
    expect('displayName' in spec).toBe(false);
    expect(validateCreateDetails(withField('content.output', null)).content.output).toEqual({ outputType: 'TEXT' });
  });

  it('accepts a tenancy OCID as the compartment', () => {
    expect(validateCreateDetails(withField('compartmentId', 'ocid1.tenancy.oc1..aaaa')).compartmentId).toBe('ocid1.tenancy.oc1..aaaa');
  });

  it('accepts every source and output kind, keeping their fields', () => {
    const body = valid();
    body.content = {
      source: { sourceType: 'OBJECT_STORAGE_TUPLE', bucketName: 'scripts', namespaceName: 'ns', objectName: 'main.sh', junk: 1 },
      output: { outputType: 'OBJECT_STORAGE_URI', outputUri: 'https://objectstorage.us-ashburn-1.oraclecloud.com/p/par/n/ns/b/out/o/' },
      commandString: '/bin/sh main.sh abc 10 foo.sh',
    };
    expect(validateCreateDetails(body).content).toEqual({
      source: { sourceType: 'OBJECT_STORAGE_TUPLE', bucketName: 'scripts', namespaceName: 'ns', objectName: 'main.sh' },
      output: { outputType: 'OBJECT_STORAGE_URI', outputUri: 'https://objectstorage.us-ashburn-1.oraclecloud.com/p/par/n/ns/b/out/o/' },
      commandString: '/bin/sh main.sh abc 10 foo.sh',
    });
    body.content = {
      source: { sourceType: 'OBJECT_STORAGE_URI', sourceUri: 'http://127.0.0.1:8080/n/ns/b/scripts/o/main.sh' },
      output: { outputType: 'OBJECT_STORAGE_TUPLE', bucketName: 'out', namespaceName: 'ns', objectName: 'run/1' },
    };
    expect(validateCreateDetails(body).content).toEqual(body.content);
    const sha = 'a'.repeat(32) + 'B'.repeat(32);
    expect(validateCreateDetails(withField('content.source.textSha256', sha)).content.source).toEqual({ sourceType: 'TEXT', text: 'uptime', textSha256: sha });
  });

  const tupleSource = { sourceType: 'OBJECT_STORAGE_TUPLE', bucketName: 'b', namespaceName: 'n', objectName: 'o' };
  const cases: Array<[string, () => unknown, ErrorCode, string]> = [
    ['a missing compartmentId', () => withField('compartmentId', undefined), 'MissingParameter', 'compartmentId'],
    ['a null compartmentId', () => withField('compartmentId', null), 'MissingParameter', 'compartmentId'],
    ['a numeric compartmentId', () => withField('compartmentId', 42), 'InvalidParameter', 'compartmentId'],
    ['an instance OCID as compartmentId', () => withField('compartmentId', INSTANCE), 'InvalidParameter', 'compartmentId'],
    ['a compartmentId with a slash', () => withField('compartmentId', 'ocid1.compartment.oc1../x'), 'InvalidParameter', 'compartmentId'],
    ['a missing timeout', () => withField('executionTimeOutInSeconds', undefined), 'MissingParameter', 'executionTimeOutInSeconds'],
    ['a timeout given as a string', () => withField('executionTimeOutInSeconds', '60'), 'InvalidParameter', 'executionTimeOutInSeconds'],
    ['a displayName that is not a string', () => withField('displayName', 7), 'InvalidParameter', 'displayName'],
    ['an empty displayName', () => withField('displayName', ''), 'InvalidParameter', 'displayName'],
    ['a 256-character displayName', () => withField('displayName', 'x'.repeat(256)), 'InvalidParameter', 'displayName'],
    ['a missing target', () => withField('target', undefined), 'MissingParameter', 'target'],
    ['a target that is an array', () => withField('target', [INSTANCE]), 'InvalidParameter', 'target'],
    ['a missing target.instanceId', () => withField('target.instanceId', undefined), 'MissingParameter', 'target.instanceId'],
    ['a compartment OCID as target.instanceId', () => withField('target.instanceId', COMPARTMENT), 'InvalidParameter', 'target.instanceId'],
    ['a missing content', () => withField('content', undefined), 'MissingParameter', 'content'],
    ['content as a string', () => withField('content', 'uptime'), 'InvalidParameter', 'content'],
    ['a missing content.source', () => withField('content.source', undefined), 'MissingParameter', 'content.source'],
    ['a missing sourceType', () => withField('content.source.sourceType', undefined), 'MissingParameter', 'content.source.sourceType'],
    ['an unknown sourceType', () => withField('content.source.sourceType', 'INLINE'), 'InvalidParameter', 'content.source.sourceType'],
    ['a lower-case sourceType', () => withField('content.source.sourceType', 'text'), 'InvalidParameter', 'content.source.sourceType'],
    ['a missing TEXT text', () => withField('content.source.text', undefined), 'MissingParameter', 'content.source.text'],
    ['a TEXT text that is a number', () => withField('content.source.text', 1), 'InvalidParameter', 'content.source.text'],
    ['a textSha256 that is not 64 hex digits', () => withField('content.source.textSha256', 'abc'), 'InvalidParameter', 'content.source.textSha256'],
    ['a textSha256 with a non-hex digit', () => withField('content.source.textSha256', 'g'.repeat(64)), 'InvalidParameter', 'content.source.textSha256'],
    ['a URI source without sourceUri', () => withField('content.source', { sourceType: 'OBJECT_STORAGE_URI' }), 'MissingParameter', 'content.source.sourceUri'],
    ['a file: sourceUri', () => withField('content.source', { sourceType: 'OBJECT_STORAGE_URI', sourceUri: 'file:///etc/passwd' }), 'InvalidParameter', 'content.source.sourceUri'],
    ['a sourceUri that is no URI', () => withField('content.source', { sourceType: 'OBJECT_STORAGE_URI', sourceUri: 'main.sh' }), 'InvalidParameter', 'content.source.sourceUri'],
    ['a tuple source without bucketName', () => withField('content.source', { ...tupleSource, bucketName: undefined }), 'MissingParameter', 'content.source.bucketName'],
    ['a tuple source with an empty namespaceName', () => withField('content.source', { ...tupleSource, namespaceName: '' }), 'InvalidParameter', 'content.source.namespaceName'],
    ['a tuple source with an empty objectName', () => withField('content.source', { ...tupleSource, objectName: '' }), 'InvalidParameter', 'content.source.objectName'],
    ['an output without outputType', () => withField('content.output', {}), 'MissingParameter', 'content.output.outputType'],
    ['an unknown outputType', () => withField('content.output', { outputType: 'STDOUT' }), 'InvalidParameter', 'content.output.outputType'],
    ['an output that is a string', () => withField('content.output', 'TEXT'), 'InvalidParameter', 'content.output'],
    ['a URI output without outputUri', () => withField('content.output', { outputType: 'OBJECT_STORAGE_URI' }), 'MissingParameter', 'content.output.outputUri'],
    ['an ftp outputUri', () => withField('content.output', { outputType: 'OBJECT_STORAGE_URI', outputUri: 'ftp://x/y' }), 'InvalidParameter', 'content.output.outputUri'],
    ['a tuple output with an empty bucketName', () => withField('content.output', { ...tupleSource, outputType: 'OBJECT_STORAGE_TUPLE', bucketName: '' }), 'InvalidParameter', 'content.output.bucketName'],
    ['a commandString that is not a string', () => withField('content.commandString', ['sh']), 'InvalidParameter', 'content.commandString'],
    ['a commandString over 4096 characters', () => withField('content.commandString', 'x'.repeat(4097)), 'InvalidParameter', 'content.commandString'],
  ];

  it.each(cases)('rejects %s', (_label, body, code, field) => {
    const e = errorOf(() => validateCreateDetails(body()));
    expect({ code: e.code, field: namedField(e) }).toEqual({ code, field });
  });

  it('rejects a body that is not a JSON object', () => {
    for (const body of [null, [], 'x', 3]) expect(errorOf(() => validateCreateDetails(body)).code).toBe('InvalidParameter');
  });

  it('counts the TEXT limit in UTF-8 bytes, not characters', () => {
    const fourBytes = '😀'; // U+1F600: 2 UTF-16 units, 4 UTF-8 bytes
    const atLimit = fourBytes.repeat(1024);
    expect(atLimit.length).toBe(2048);
    expect(validateCreateDetails(withField('content.source.text', atLimit)).content.source).toMatchObject({ text: atLimit });
    const e = errorOf(() => validateCreateDetails(withField('content.source.text', `${atLimit}x`)));
    expect({ code: e.code, field: namedField(e) }).toEqual({ code: 'InvalidParameter', field: 'content.source.text' });
    expect(() => validateCreateDetails(withField('content.source.text', 'é'.repeat(2049)))).toThrow(ServiceError);
    expect(() => validateCreateDetails(withField('content.source.text', 'x'.repeat(4096)))).not.toThrow();
  });

  it.each([0, 1, 86_400])('accepts a timeout of %p seconds', (timeout) => {
    expect(validateCreateDetails(withField('executionTimeOutInSeconds', timeout)).executionTimeOutInSeconds).toBe(timeout);
  });

  it.each([86_401, -1, 1.5, Number.NaN, Infinity])('rejects a timeout of %p seconds', (timeout) => {
    const e = errorOf(() => validateCreateDetails(withField('executionTimeOutInSeconds', timeout)));
    expect({ code: e.code, field: namedField(e) }).toEqual({ code: 'InvalidParameter', field: 'executionTimeOutInSeconds' });
  });

  it('accepts a displayName of 255 characters counted as code points', () => {
    const name = '😀'.repeat(255);
    expect(validateCreateDetails(withField('displayName', name)).displayName).toBe(name);
  });
});

describe('validateRetryToken', () => {
  it('passes absent, empty and sane tokens', () => {
    expect(validateRetryToken(undefined)).toBeUndefined();
    expect(validateRetryToken('')).toBeUndefined();
    expect(validateRetryToken('C33EED50EAB4-11F1-A6B2-F55760F11CA2')).toBe('C33EED50EAB4-11F1-A6B2-F55760F11CA2');
    expect(validateRetryToken('x'.repeat(64))).toHaveLength(64);
  });

  it.each([['x'.repeat(65)], ['tab\there'], ['caf\u00e9']])('rejects %p', (token) => {
    const e = errorOf(() => validateRetryToken(token));
    expect({ code: e.code, field: namedField(e) }).toEqual({ code: 'InvalidParameter', field: 'opc-retry-token' });
  });
});

describe('parseLimit', () => {
  it('defaults to 100 when absent or empty', () => {
    expect(parseLimit(null)).toBe(100);
    expect(parseLimit('')).toBe(100);
  });

  it('accepts 1..1000 and clamps larger pages to 1000', () => {
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit('1000')).toBe(1000);
    expect(parseLimit('5000')).toBe(1000);
  });

  it.each(['0', '-1', '1.5', 'ten', ' 5', '1e3', '99999999999999999999'])('rejects %p', (raw) => {
    const e = errorOf(() => parseLimit(raw));
    expect({ code: e.code, field: namedField(e) }).toEqual({ code: 'InvalidParameter', field: 'limit' });
  });
});

describe('parseSortBy and parseSortOrder', () => {
  it('accepts any case and defaults to TIMECREATED', () => {
    expect(parseSortBy(null)).toBe('TIMECREATED');
    expect(parseSortBy('displayName')).toBe('DISPLAYNAME');
    expect(parseSortBy('timecreated')).toBe('TIMECREATED');
    expect(parseSortOrder('asc', 'TIMECREATED')).toBe('ASC');
    expect(parseSortOrder('Desc', 'DISPLAYNAME')).toBe('DESC');
  });

  it('defaults to newest first by time and A to Z by name', () => {
    expect(parseSortOrder(null, 'TIMECREATED')).toBe('DESC');
    expect(parseSortOrder(null, 'DISPLAYNAME')).toBe('ASC');
  });

  it('rejects other values naming the parameter', () => {
    expect(namedField(errorOf(() => parseSortBy('NAME')))).toBe('sortBy');
    expect(namedField(errorOf(() => parseSortOrder('UP', 'TIMECREATED')))).toBe('sortOrder');
  });
});

describe('parseLifecycleStateFilter', () => {
  it('is undefined when absent and case-insensitive when given', () => {
    expect(parseLifecycleStateFilter(null)).toBeUndefined();
    expect(parseLifecycleStateFilter('succeeded')).toBe('SUCCEEDED');
    expect(parseLifecycleStateFilter('In_Progress')).toBe('IN_PROGRESS');
    expect(parseLifecycleStateFilter('TIMED_OUT')).toBe('TIMED_OUT');
  });

  it('rejects a value outside the six states', () => {
    const e = errorOf(() => parseLifecycleStateFilter('RUNNING'));
    expect({ code: e.code, field: namedField(e) }).toEqual({ code: 'InvalidParameter', field: 'lifecycleState' });
  });
});

describe('parseOcidParam', () => {
  it('requires the parameter and checks its OCID type', () => {
    expect(parseOcidParam(INSTANCE, 'instanceId', ['instance'])).toBe(INSTANCE);
    expect(errorOf(() => parseOcidParam(null, 'instanceId', ['instance'])).code).toBe('MissingParameter');
    expect(errorOf(() => parseOcidParam('', 'instanceId', ['instance'])).code).toBe('MissingParameter');
    const e = errorOf(() => parseOcidParam(COMPARTMENT, 'instanceId', ['instance']));
    expect({ code: e.code, field: namedField(e) }).toEqual({ code: 'InvalidParameter', field: 'instanceId' });
  });
});
