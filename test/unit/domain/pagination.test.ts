import { thrownServiceError } from '../../support/errors';
import { decodePageToken, encodePageToken, type PageTokenPayload } from '../../../shared/domain/pagination';

const pageError = thrownServiceError;

describe('page tokens', () => {
  const payload = { v: 1, sortKey: 'Database Backup ✓ ?&=+/', id: 'ocid1.instanceagentcommand.oc1.iad.aaaa', seq: 1714557600123 };

  it('round-trips a keyset payload', () => {
    expect(decodePageToken(encodePageToken(payload), ['v', 'sortKey', 'id'])).toEqual(payload);
  });

  it('uses only characters the SDK can send unencoded in ?page=', () => {
    const payloads: PageTokenPayload[] = [payload, { k: '\u00ff\u00fe>>>???' }, { k: '' }, { n: 0 }];
    for (const p of payloads) {
      expect(encodePageToken(p)).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'abc+def'],
    ['padded', `${encodePageToken(payload)}==`],
    ['not JSON', Buffer.from('hello', 'utf8').toString('base64url')],
    ['a JSON array', Buffer.from('[1,2]', 'utf8').toString('base64url')],
    ['a nested value', Buffer.from('{"v":1,"sortKey":{},"id":"x"}', 'utf8').toString('base64url')],
    ['truncated', encodePageToken(payload).slice(0, -3)],
    ['too long', 'A'.repeat(5000)],
  ])('rejects a token that is %s as InvalidParameter naming page', (_label, token) => {
    const e = pageError(() => decodePageToken(token, ['v']));
    expect(e.code).toBe('InvalidParameter');
    expect(e.message).toContain("'page'");
  });

  it('rejects a token missing a required key, even an inherited one', () => {
    const token = encodePageToken({ v: 1, id: 'x' });
    expect(pageError(() => decodePageToken(token, ['v', 'sortKey'])).code).toBe('InvalidParameter');
    expect(pageError(() => decodePageToken(encodePageToken({ v: 1 }), ['toString'])).code).toBe('InvalidParameter');
  });

  it('keeps a __proto__ key as plain data', () => {
    const token = Buffer.from('{"__proto__":"x","id":"y"}', 'utf8').toString('base64url');
    const decoded = decodePageToken(token, ['__proto__', 'id']);
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toBe('x');
  });
});
