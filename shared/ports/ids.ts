/** Identifier generation is injected so tests can be deterministic. */
export interface Ids {
  /** A new OCID of the given resource type, e.g. `instanceagentcommand`. */
  ocid(resourceType: string): string;
  /** A large, non-consecutive, increasing number for execution `sequenceNumber`s (≤ 2^53−1). */
  sequenceNumber(): number;
  /** A random token (URL-safe). */
  token(): string;
}
