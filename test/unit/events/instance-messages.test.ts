import { InvalidMessageError, parseInstanceStreamMessage } from '../../../events/parse';
import { cancelMessage, issuedMessage } from '../agent/support/fake-platform';

function invalid(value: unknown): InvalidMessageError {
  try {
    parseInstanceStreamMessage(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));
  } catch (err) {
    if (err instanceof InvalidMessageError) return err;
    throw err;
  }
  throw new Error('expected InvalidMessageError');
}

describe('parseInstanceStreamMessage', () => {
  it('accepts command.issued and command.cancel-requested', () => {
    const issued = issuedMessage({ script: 'uptime' });
    expect(parseInstanceStreamMessage(Buffer.from(JSON.stringify(issued)))).toEqual(issued);
    const cancel = cancelMessage(issued.instanceAgentCommandId);
    expect(parseInstanceStreamMessage(Buffer.from(JSON.stringify(cancel)))).toEqual(cancel);
  });

  it('keeps the agent session a command is reserved for, and refuses one that is not a string', () => {
    const issued = issuedMessage({ reservedFor: 'agent-session-1' });
    expect(parseInstanceStreamMessage(Buffer.from(JSON.stringify(issued)))).toEqual(issued);
    expect('reservedFor' in parseInstanceStreamMessage(Buffer.from(JSON.stringify(issuedMessage())))).toBe(false);
    expect(invalid({ ...issued, reservedFor: 7 }).field).toBe('reservedFor');
  });

  it('defaults a missing output to TEXT', () => {
    const issued = issuedMessage();
    const { output: _output, ...content } = issued.content;
    const parsed = parseInstanceStreamMessage(Buffer.from(JSON.stringify({ ...issued, content })));
    expect(parsed.type === 'command.issued' && parsed.content.output).toEqual({ outputType: 'TEXT' });
  });

  it('counts a commandString in characters (code points) as the API does, so what the API accepted is run', () => {
    const issued = issuedMessage();
    const withCommand = (commandString: string) =>
      Buffer.from(JSON.stringify({ ...issued, content: { ...issued.content, commandString } }));
    // 4096 emoji: the API's 4096-character limit exactly, but 8192 UTF-16 units.
    const parsed = parseInstanceStreamMessage(withCommand('\u{1F600}'.repeat(4096)));
    expect(parsed.type === 'command.issued' && parsed.content.commandString?.length).toBe(8192);
    expect(invalid(JSON.parse(withCommand('x'.repeat(4097)).toString())).field).toBe('content.commandString');
  });

  it.each([
    ['not JSON', '{nope', undefined],
    ['an unknown type', { ...issuedMessage(), type: 'command.exploded' }, 'type'],
    ['a wrong specVersion', { ...issuedMessage(), specVersion: 2 }, 'specVersion'],
    ['a timeout over a day', { ...issuedMessage(), executionTimeOutInSeconds: 86_401 }, 'executionTimeOutInSeconds'],
    ['a path in the id', { ...issuedMessage(), instanceAgentCommandId: '../../etc/passwd' }, 'instanceAgentCommandId'],
    ['a bad source type', { ...issuedMessage(), content: { source: { sourceType: 'FTP' } } }, 'content.source.sourceType'],
    ['a missing object name', { ...issuedMessage(), content: { source: { sourceType: 'OBJECT_STORAGE_TUPLE', bucketName: 'b', namespaceName: 'n' } } }, 'content.source.objectName'],
  ])('refuses %s, naming the field', (_name, value, field) => {
    expect(invalid(value).field).toBe(field);
  });
});
