import type { Clock } from '../ports/clock';
import type { Ids } from '../ports/ids';
import type { IdentityDirectory } from '../ports/identity';
import type { ObjectStore } from '../ports/object-store';
import type { StreamPublisher } from '../ports/stream';

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What the use-cases need; functions build it once per process from configuration. */
export interface ServiceDeps {
  /** The state bucket: command and execution documents and their indexes. */
  state: ObjectStore;
  identity: IdentityDirectory;
  streams: StreamPublisher;
  /** The stream every execution change is published to. */
  executionEventsStreamId: string;
  clock: Clock;
  ids: Ids;
  log: Logger;
}
