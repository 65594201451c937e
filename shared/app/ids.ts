import { randomBytes, randomInt } from 'node:crypto';
import type { Clock } from '../ports/clock';
import type { Ids } from '../ports/ids';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function randomBase32(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += BASE32[b % 32];
  return out;
}

/** OCID-shaped ids (`ocid1.<type>.oc1..<60 random base32>`) and time-based sequence numbers. */
export function randomIds(clock: Clock): Ids {
  return {
    ocid: (resourceType) => `ocid1.${resourceType}.oc1..${randomBase32(60)}`,
    // Milliseconds × 1000 plus a random part: large, increasing, non-consecutive, and below 2^53.
    sequenceNumber: () => clock.nowMs() * 1000 + randomInt(1000),
    token: () => randomBytes(24).toString('base64url'),
  };
}
