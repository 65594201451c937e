import { decodeSegment, queryLimit } from '../../../platform/endpoint-support';

class Invalid extends Error {}
const invalid = (message: string) => new Invalid(message);

describe('queryLimit', () => {
  it('gives the fallback when absent and accepts whole numbers from 1 to max', () => {
    expect(queryLimit(null, 25, 1000, invalid)).toBe(25);
    expect(queryLimit('1', 25, 1000, invalid)).toBe(1);
    expect(queryLimit('1000', 25, 1000, invalid)).toBe(1000);
  });

  it.each(['0', '1001', '2.5', 'abc', '', '-1'])('refuses %j with the endpoint’s own error, naming the range', (raw) => {
    expect(() => queryLimit(raw, 25, 1000, invalid)).toThrow(new Invalid('limit must be an integer from 1 to 1000.'));
    expect(() => queryLimit(raw, 25, 1000, invalid)).toThrow(Invalid);
  });
});

describe('decodeSegment', () => {
  it('percent-decodes a segment, and refuses a malformed escape with the endpoint’s own error', () => {
    expect(decodeSegment('a%2Fb%20c', invalid)).toBe('a/b c');
    expect(() => decodeSegment('%E0%A4%A', invalid)).toThrow(Invalid);
  });
});
