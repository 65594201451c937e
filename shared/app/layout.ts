/**
 * Object keys of the state bucket. Everything is an object so the layout works on OCI Object Storage alone:
 * documents are read by key, and every list is a prefix listing of index objects whose names sort in the wanted
 * order (Object Storage lists in byte order, ascending only, so descending orders get their own inverted index).
 *
 *   commands/<commandId>.json                       the command document
 *   executions/<commandId>/<instanceId>.json         the execution document
 *   agents/<instanceId>.json                         the instance's agent session that reported last, and when
 *   idx/cmd/<compartmentId>/<order>/<sortKey>/<commandId>
 *   idx/exe/<compartmentId>/<instanceId>/<order>/<sortKey>/<commandId>
 *   idx/all/<timeKey>/<commandId>                    every command by creation time (retention sweeps)
 *   idx/open/<timeKey>/<commandId>/<instanceId>      executions not yet terminal (deadline and expiry sweeps)
 *
 * Orders: `t` time ascending, `r` time descending, `n` display name ascending, `m` display name descending.
 * Index objects are empty; the key says everything, so a list page needs no extra reads to find its documents.
 */
import type { CommandRecord } from '../domain/model';
import type { SortBy, SortOrder } from '../domain/validation';

export type { SortBy, SortOrder };

const TIME_DIGITS = 13;
const SEQ_DIGITS = 16;
const MAX_TIME = 10 ** TIME_DIGITS - 1;
const MAX_SEQ = 10 ** SEQ_DIGITS - 1;
/** Display names sort by their first bytes only, so index names stay far below Object Storage's 1024-byte limit. */
const NAME_SORT_BYTES = 128;

const pad = (n: number, digits: number) => String(n).padStart(digits, '0');

export const commandKey = (commandId: string) => `commands/${commandId}.json`;
export const executionKey = (commandId: string, instanceId: string) => `executions/${commandId}/${instanceId}.json`;
export const agentSessionKey = (instanceId: string) => `agents/${instanceId}.json`;

interface Sortable {
  timeCreated: string;
  sequenceNumber: number;
  displayName?: string;
}

/** Ascending creation order; the sequence number breaks ties within a millisecond. */
export function timeKey(r: Sortable): string {
  return `${pad(Date.parse(r.timeCreated), TIME_DIGITS)}-${pad(r.sequenceNumber, SEQ_DIGITS)}`;
}

function invertedTimeKey(r: Sortable): string {
  return `${pad(MAX_TIME - Date.parse(r.timeCreated), TIME_DIGITS)}-${pad(MAX_SEQ - r.sequenceNumber, SEQ_DIGITS)}`;
}

/**
 * Hex of the name's UTF-8 bytes preserves byte order (case-sensitive, as OCI sorts). The terminator must sort
 * below every hex digit ('-') so "ab" comes before "abc"; descending inverts each digit and uses a terminator above
 * them all ('~') so "abc" comes before "ab".
 */
function nameKey(r: Sortable, descending: boolean): string {
  const bytes = Buffer.from(r.displayName ?? '', 'utf8').subarray(0, NAME_SORT_BYTES);
  const hex = bytes.toString('hex');
  if (!descending) return `${hex}-${timeKey(r)}`;
  const inverted = [...hex].map((d) => (15 - parseInt(d, 16)).toString(16)).join('');
  return `${inverted}~${invertedTimeKey(r)}`;
}

const ORDER_CODE: Record<SortBy, Record<SortOrder, string>> = {
  TIMECREATED: { ASC: 't', DESC: 'r' },
  DISPLAYNAME: { ASC: 'n', DESC: 'm' },
};

function sortKey(r: Sortable, sortBy: SortBy, order: SortOrder): string {
  if (sortBy === 'TIMECREATED') return order === 'ASC' ? timeKey(r) : invertedTimeKey(r);
  return nameKey(r, order === 'DESC');
}

const ALL_ORDERS: ReadonlyArray<[SortBy, SortOrder]> = [
  ['TIMECREATED', 'ASC'],
  ['TIMECREATED', 'DESC'],
  ['DISPLAYNAME', 'ASC'],
  ['DISPLAYNAME', 'DESC'],
];

export const commandIndexPrefix = (compartmentId: string, sortBy: SortBy, order: SortOrder) =>
  `idx/cmd/${compartmentId}/${ORDER_CODE[sortBy][order]}/`;

export const executionIndexPrefix = (compartmentId: string, instanceId: string, sortBy: SortBy, order: SortOrder) =>
  `idx/exe/${compartmentId}/${instanceId}/${ORDER_CODE[sortBy][order]}/`;

export const ALL_COMMANDS_PREFIX = 'idx/all/';
export const OPEN_EXECUTIONS_PREFIX = 'idx/open/';

/** Every index object a command and its execution have, for writing at creation and deleting at retention. */
export function indexKeys(c: CommandRecord): string[] {
  const instanceId = c.target.instanceId;
  return [
    ...ALL_ORDERS.map(([by, order]) => `${commandIndexPrefix(c.compartmentId, by, order)}${sortKey(c, by, order)}/${c.id}`),
    ...ALL_ORDERS.map(
      ([by, order]) => `${executionIndexPrefix(c.compartmentId, instanceId, by, order)}${sortKey(c, by, order)}/${c.id}`,
    ),
    allCommandsKey(c),
  ];
}

export const allCommandsKey = (c: Sortable & { id: string }) => `${ALL_COMMANDS_PREFIX}${timeKey(c)}/${c.id}`;

export const openExecutionKey = (c: Sortable & { id: string }, instanceId: string) =>
  `${OPEN_EXECUTIONS_PREFIX}${timeKey(c)}/${c.id}/${instanceId}`;

/** The command id is the last segment of every index key. */
export function commandIdOfIndexKey(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** `idx/open/<timeKey>/<commandId>/<instanceId>` → its parts. */
export function parseOpenExecutionKey(key: string): { timeMs: number; commandId: string; instanceId: string } | undefined {
  const parts = key.slice(OPEN_EXECUTIONS_PREFIX.length).split('/');
  const [time, commandId, instanceId] = parts;
  if (parts.length !== 3 || !time || !commandId || !instanceId) return undefined;
  return { timeMs: Number(time.slice(0, TIME_DIGITS)), commandId, instanceId };
}

/** `idx/all/<timeKey>/<commandId>` → its parts. */
export function parseAllCommandsKey(key: string): { timeMs: number; commandId: string } | undefined {
  const parts = key.slice(ALL_COMMANDS_PREFIX.length).split('/');
  const [time, commandId] = parts;
  if (parts.length !== 2 || !time || !commandId) return undefined;
  return { timeMs: Number(time.slice(0, TIME_DIGITS)), commandId };
}

/** The first `idx/all/` key at or after this instant, as a listing bound. */
export function allCommandsBoundAt(timeMs: number): string {
  return `${ALL_COMMANDS_PREFIX}${pad(timeMs, TIME_DIGITS)}`;
}
