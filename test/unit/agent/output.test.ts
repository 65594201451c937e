import { createHash } from 'node:crypto';
import { TailBuffer, textOutputOf, utf8Tail } from '../../../agent/output';

describe('TailBuffer', () => {
  it('keeps exactly the last capacity bytes across wrap-arounds, in a fixed allocation', () => {
    const tail = new TailBuffer(8);
    tail.write(Buffer.from('abc'));
    tail.write(Buffer.from('defgh'));
    tail.write(Buffer.from('ij'));
    expect(tail.contents().toString()).toBe('cdefghij');
    tail.write(Buffer.from('0123456789XYZ'));
    expect(tail.contents().toString()).toBe('6789XYZ'.padStart(8, '5'));
    expect(tail.allocatedBytes).toBe(8);
    expect(tail.totalBytes).toBe(23);
  });

  it('holds less than capacity until filled', () => {
    const tail = new TailBuffer(16);
    tail.write(Buffer.from('hi'));
    expect(tail.contents().toString()).toBe('hi');
  });
});

describe('utf8Tail', () => {
  it('drops a character cut in half at the start', () => {
    const bytes = Buffer.from('a€b€', 'utf8'); // € is 3 bytes: 1 + 3 + 1 + 3 = 8
    expect(utf8Tail(bytes, 6).toString('utf8')).toBe('b€');
    expect(utf8Tail(bytes, 7).toString('utf8')).toBe('€b€');
    expect(utf8Tail(bytes, 100).toString('utf8')).toBe('a€b€');
  });
});

describe('textOutputOf', () => {
  it('returns at most 1024 bytes of valid UTF-8 and the lower-case hex sha256 of that text', () => {
    const tail = new TailBuffer(1024);
    tail.write(Buffer.from('x'.repeat(2000)));
    tail.write(Buffer.from('€'.repeat(10)));
    const { text, textSha256 } = textOutputOf(tail);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1024);
    expect(text.endsWith('€'.repeat(10))).toBe(true);
    expect(text).not.toContain('\uFFFD');
    expect(textSha256).toBe(createHash('sha256').update(text).digest('hex'));
    expect(textSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('stays within the limit when invalid bytes decode to replacement characters', () => {
    const tail = new TailBuffer(1024);
    tail.write(Buffer.alloc(1024, 0xff));
    expect(Buffer.byteLength(textOutputOf(tail).text)).toBeLessThanOrEqual(1024);
  });
});
