/**
 * `@types/node` 20.9 predates TypeScript 5.7's generic typed arrays, so under TS 5.9 a `Buffer` no longer type-checks
 * as a `Uint8Array` (or `ArrayBufferView`) for node:crypto and `Buffer.concat`. This zero-copy view bridges that;
 * delete it once `@types/node` is bumped (≥ 20.17 declares `Buffer<T>`).
 */
export function bytesOf(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
