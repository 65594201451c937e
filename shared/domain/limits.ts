/** Documented limits (spec §5) and the service's own choices where OCI documents none (spec "Found in no source"). */
export const Limits = {
  /** A TEXT script, in UTF-8 bytes. Larger scripts must come from Object Storage. */
  maxTextScriptBytes: 4096,
  /** TEXT output keeps only the tail, in bytes, cut on a UTF-8 character boundary. */
  maxTextOutputBytes: 1024,
  minTimeoutSec: 0,
  /** One day. 0 means "no timeout", which the agent still caps at this value. */
  maxTimeoutSec: 86_400,
  minDisplayNameLength: 1,
  maxDisplayNameLength: 255,
  minPageLimit: 1,
  maxPageLimit: 1000,
  defaultPageLimit: 100,
  /** Largest API request body the gateway reads. */
  maxRequestBodyBytes: 64 * 1024,
  /** A create retry token is honoured this long. */
  retryTokenTtlMs: 24 * 60 * 60 * 1000,
  maxRetryTokenLength: 64,
  maxCommandStringLength: 4096,
  /** Agent side: scripts received and not yet finished. */
  maxInFlightPerInstance: 5,
  /** Agent side default for `commandExecutionMaxWorkers`. */
  defaultMaxWorkers: 2,
  /** TEXT-output commands and executions are purged this long after creation. */
  textRetentionMs: 7 * 24 * 60 * 60 * 1000,
} as const;
