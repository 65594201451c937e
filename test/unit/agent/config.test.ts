import fs from 'node:fs';
import path from 'node:path';
import { AgentConfigError, loadAgentConfig, parseAgentConfig, parseFlatYaml } from '../../../agent/config';
import { tempDir } from './support/helpers';

const REQUIRED = [
  'instanceId: ocid1.instance.oc1..host',
  'tenancyId: ocid1.tenancy.oc1..t',
  'apiEndpoint: http://127.0.0.1:8530/',
  'streamingEndpoint: http://127.0.0.1:8530',
  'streamId: ocid1.stream.oc1..s',
  'keyFile: key.pem',
  'fingerprint: aa:bb:cc:dd',
  'logDir: log',
  'stateDir: /var/lib/runcommand',
];

function configError(text: string): AgentConfigError {
  try {
    parseAgentConfig(text, '/etc/runcommand');
  } catch (err) {
    if (err instanceof AgentConfigError) return err;
    throw err;
  }
  throw new Error('expected an AgentConfigError');
}

describe('parseFlatYaml', () => {
  it('reads comments, quoted and bare strings, integers and booleans', () => {
    const values = parseFlatYaml(
      [
        '# OCI runcommand config.yml',
        '---',
        'a: plain value # trailing comment',
        'b: "quoted # not a comment \\"x\\""',
        "c: 'it''s'",
        'd: 42',
        'e: true',
        'f: http://host:1/x#frag',
        'g: ~',
        '',
      ].join('\n'),
    );
    expect(Object.fromEntries(values)).toEqual({ a: 'plain value', b: 'quoted # not a comment "x"', c: "it's", d: 42, e: true, f: 'http://host:1/x#frag' });
  });

  it('refuses nested values, duplicate keys and lines without a colon, naming the line', () => {
    expect(() => parseFlatYaml('a: 1\n  b: 2')).toThrow(/line 2: nested values/);
    expect(() => parseFlatYaml('a: 1\na: 2')).toThrow(/line 2: a appears twice/);
    expect(() => parseFlatYaml('just words')).toThrow(/line 1: expected "key: value"/);
    expect(() => parseFlatYaml('a: "open')).toThrow(/line 1: unterminated/);
  });
});

describe('parseAgentConfig', () => {
  it('applies the defaults and resolves relative paths against the config directory', () => {
    const { config, unknownKeys } = parseAgentConfig(REQUIRED.join('\n'), '/etc/runcommand');
    expect(config).toEqual({
      instanceId: 'ocid1.instance.oc1..host',
      tenancyId: 'ocid1.tenancy.oc1..t',
      apiEndpoint: 'http://127.0.0.1:8530',
      streamingEndpoint: 'http://127.0.0.1:8530',
      objectStorageEndpoint: 'http://127.0.0.1:8530',
      streamId: 'ocid1.stream.oc1..s',
      keyFile: '/etc/runcommand/key.pem',
      fingerprint: 'aa:bb:cc:dd',
      commandExecutionMaxWorkers: 2,
      maxInFlight: 5,
      logDir: '/etc/runcommand/log',
      stateDir: '/var/lib/runcommand',
      killGraceMs: 5000,
      pollWaitMs: 20000,
      maxScriptBytes: 100 * 1024 * 1024,
      maxOutputBytes: 10 * 1024 ** 3,
      syncWrites: false,
    });
    expect(unknownKeys).toEqual([]);
  });

  it('caps maxInFlight at the documented 5 and reads the optional keys', () => {
    const { config } = parseAgentConfig(
      [...REQUIRED, 'maxInFlight: 9', 'commandExecutionMaxWorkers: 3', 'runAsUser: ocarun', 'killGraceMs: 100', 'pollWaitMs: 0'].join('\n'),
      '/',
    );
    expect(config).toMatchObject({ maxInFlight: 5, commandExecutionMaxWorkers: 3, runAsUser: 'ocarun', killGraceMs: 100, pollWaitMs: 0 });
  });

  it('reads the Object Storage endpoint and the script and output size limits', () => {
    const { config } = parseAgentConfig(
      [...REQUIRED, 'objectStorageEndpoint: https://objectstorage.us-ashburn-1.oraclecloud.com/', 'maxScriptBytes: 1048576', 'maxOutputBytes: 0'].join('\n'),
      '/',
    );
    expect(config).toMatchObject({ objectStorageEndpoint: 'https://objectstorage.us-ashburn-1.oraclecloud.com', maxScriptBytes: 1048576, maxOutputBytes: 0 });
  });

  it('reads syncWrites as a boolean and names it when it is not one', () => {
    expect(parseAgentConfig([...REQUIRED, 'syncWrites: true'].join('\n'), '/').config.syncWrites).toBe(true);
    expect(() => parseAgentConfig([...REQUIRED, 'syncWrites: 1'].join('\n'), '/')).toThrow(/syncWrites must be true or false/);
  });

  it('reports unknown keys instead of failing', () => {
    expect(parseAgentConfig([...REQUIRED, 'pluginVersion: 1.2'].join('\n'), '/').unknownKeys).toEqual(['pluginVersion']);
  });

  it('accepts JSON when the file starts with {', () => {
    const json = JSON.stringify({
      instanceId: 'i',
      tenancyId: 't',
      apiEndpoint: 'https://api.example.com',
      streamingEndpoint: 'https://streaming.example.com',
      streamId: 's',
      keyFile: '/k.pem',
      fingerprint: 'f',
      logDir: '/log',
      stateDir: '/state',
      commandExecutionMaxWorkers: 4,
    });
    expect(parseAgentConfig(json, '/').config).toMatchObject({ apiEndpoint: 'https://api.example.com', commandExecutionMaxWorkers: 4 });
  });

  it.each([
    ['a missing required key', REQUIRED.filter((l) => !l.startsWith('streamId')), 'streamId', /streamId is required/],
    ['zero workers', [...REQUIRED, 'commandExecutionMaxWorkers: 0'], 'commandExecutionMaxWorkers', /commandExecutionMaxWorkers must be an integer from 1/],
    ['a non-integer', [...REQUIRED, 'killGraceMs: soon'], 'killGraceMs', /killGraceMs must be an integer/],
    ['a bad URL', [...REQUIRED.filter((l) => !l.startsWith('apiEndpoint')), 'apiEndpoint: ftp://x'], 'apiEndpoint', /apiEndpoint must be an http\(s\) URL/],
    ['a bad Object Storage endpoint', [...REQUIRED, 'objectStorageEndpoint: objectstorage'], 'objectStorageEndpoint', /objectStorageEndpoint must be an http\(s\) URL/],
    ['a zero script limit', [...REQUIRED, 'maxScriptBytes: 0'], 'maxScriptBytes', /maxScriptBytes must be an integer from 1 to 2147483648/],
    ['an output limit past OCI\'s largest object', [...REQUIRED, `maxOutputBytes: ${51 * 1024 ** 3}`], 'maxOutputBytes', /maxOutputBytes must be an integer from 0 to 53687091200/],
    ['a boolean id', [...REQUIRED.filter((l) => !l.startsWith('instanceId')), 'instanceId: true'], 'instanceId', /instanceId must be a string/],
  ])('names the key for %s', (_name, lines, key, message) => {
    const err = configError(lines.join('\n'));
    expect(err.key).toBe(key);
    expect(err.message).toMatch(message);
  });
});

describe('loadAgentConfig', () => {
  it('loads the agent.yml the platform writes, and names the file in errors', () => {
    const dir = tempDir();
    const file = path.join(dir, 'agent.yml');
    fs.writeFileSync(file, `# runcommand agent configuration\n${REQUIRED.join('\n')}\ncommandExecutionMaxWorkers: 2\n`);
    expect(loadAgentConfig(file).config.keyFile).toBe(path.join(dir, 'key.pem'));
    fs.writeFileSync(file, `${REQUIRED.join('\n')}\ncommandExecutionMaxWorkers: x\n`);
    expect(() => loadAgentConfig(file)).toThrow(new RegExp(`agent config ${file}: commandExecutionMaxWorkers`));
    expect(() => loadAgentConfig(path.join(dir, 'missing.yml'))).toThrow(/cannot read it/);
  });
});
