/**
 * Edge validation of the instanceagent 20180530 request inputs (spec §3, §4, §5, §8, §11). Pure: no I/O, no clock.
 * Every rejection is a `ServiceError` whose message names the exact field path in single quotes, e.g.
 * `'content.source.text'`, so callers (and users) can tell which field was wrong.
 */
import { ServiceError } from './errors';
import { Limits } from './limits';
import type { CommandContent, CommandOutput, CommandSource, CommandSpec, LifecycleState, SourceType } from './model';
import { LifecycleState as LifecycleStates, SourceType as SourceTypes } from './model';

/** Object Storage bounds (OCI's documented name limits); URIs get a generous cap so a body cannot carry megabytes. */
const MAX_URI_LENGTH = 2048;
const MAX_BUCKET_NAME_LENGTH = 256;
const MAX_NAMESPACE_NAME_LENGTH = 256;
const MAX_OBJECT_NAME_BYTES = 1024;
const MAX_OCID_LENGTH = 255;

type JsonObject = Record<string, unknown>;

function missing(path: string): ServiceError {
  return new ServiceError('MissingParameter', `The parameter '${path}' is required.`);
}

function invalid(path: string, reason: string): ServiceError {
  return new ServiceError('InvalidParameter', `The parameter '${path}' ${reason}.`);
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON `null` counts as absent: some SDKs serialise unset optional fields as null. */
function isAbsent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

function requireObject(value: unknown, path: string): JsonObject {
  if (isAbsent(value)) throw missing(path);
  if (!isPlainObject(value)) throw invalid(path, 'must be a JSON object');
  return value;
}

function requireString(value: unknown, path: string): string {
  if (isAbsent(value)) throw missing(path);
  if (typeof value !== 'string') throw invalid(path, 'must be a string');
  return value;
}

function optionalString(value: unknown, path: string): string | undefined {
  if (isAbsent(value)) return undefined;
  if (typeof value !== 'string') throw invalid(path, 'must be a string');
  return value;
}

/** Characters as the API counts them: Unicode code points (an emoji is one, where `.length` counts two). */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const OCID_TAIL = /^[A-Za-z0-9_.:-]+$/;

/**
 * Whether `value` looks like an OCID of one of `types` (`ocid1.<type>.<realm>.[region].<unique>`). The character set
 * is strict because OCIDs become parts of object keys and stream names: no `/`, spaces or control characters.
 */
export function isOcidOf(value: string, types: readonly string[]): boolean {
  if (value.length > MAX_OCID_LENGTH) return false;
  return types.some((type) => {
    const prefix = `ocid1.${type}.`;
    return value.startsWith(prefix) && value.length > prefix.length && OCID_TAIL.test(value.slice(prefix.length));
  });
}

function requireOcid(value: unknown, path: string, types: readonly string[]): string {
  const s = requireString(value, path);
  if (!isOcidOf(s, types)) throw invalid(path, `must be an OCID of type ${types.join(' or ')}`);
  return s;
}

/** A required OCID query parameter (`compartmentId`, `instanceId`) of the list and get operations. */
export function parseOcidParam(raw: string | null | undefined, name: string, types: readonly string[]): string {
  return requireOcid(raw === '' ? undefined : raw, name, types);
}

export const COMPARTMENT_OCID_TYPES = ['compartment', 'tenancy'] as const;
export const INSTANCE_OCID_TYPES = ['instance'] as const;

function requireHttpUri(value: unknown, path: string): string {
  const s = requireString(value, path);
  if (s.length > MAX_URI_LENGTH) throw invalid(path, `must be at most ${MAX_URI_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw invalid(path, 'must be an http(s) URI');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(path, 'must be an http(s) URI');
  return s;
}

function requireName(value: unknown, path: string, max: number, unit: 'characters' | 'bytes'): string {
  const s = requireString(value, path);
  if (s.length === 0) throw invalid(path, 'must not be empty');
  const size = unit === 'bytes' ? Buffer.byteLength(s, 'utf8') : codePointLength(s);
  if (size > max) throw invalid(path, `must be at most ${max} ${unit}`);
  return s;
}

function requireObjectStorageTuple(
  o: JsonObject,
  path: string,
): { bucketName: string; namespaceName: string; objectName: string } {
  return {
    bucketName: requireName(o.bucketName, `${path}.bucketName`, MAX_BUCKET_NAME_LENGTH, 'characters'),
    namespaceName: requireName(o.namespaceName, `${path}.namespaceName`, MAX_NAMESPACE_NAME_LENGTH, 'characters'),
    objectName: requireName(o.objectName, `${path}.objectName`, MAX_OBJECT_NAME_BYTES, 'bytes'),
  };
}

function requireKind(value: unknown, path: string): SourceType {
  const s = requireString(value, path);
  if (!(Object.values(SourceTypes) as string[]).includes(s)) {
    throw invalid(path, `must be one of ${Object.values(SourceTypes).join(', ')}`);
  }
  return s as SourceType;
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

function validateSource(value: unknown): CommandSource {
  const path = 'content.source';
  const o = requireObject(value, path);
  const sourceType = requireKind(o.sourceType, `${path}.sourceType`);
  switch (sourceType) {
    case 'TEXT': {
      const text = requireString(o.text, `${path}.text`);
      if (Buffer.byteLength(text, 'utf8') > Limits.maxTextScriptBytes) {
        throw invalid(`${path}.text`, `must be at most ${Limits.maxTextScriptBytes} bytes (UTF-8); larger scripts must come from Object Storage`);
      }
      const textSha256 = optionalString(o.textSha256, `${path}.textSha256`);
      if (textSha256 !== undefined && !SHA256_HEX.test(textSha256)) {
        throw invalid(`${path}.textSha256`, 'must be 64 hexadecimal characters');
      }
      return { sourceType, text, ...(textSha256 !== undefined ? { textSha256 } : {}) };
    }
    case 'OBJECT_STORAGE_URI':
      return { sourceType, sourceUri: requireHttpUri(o.sourceUri, `${path}.sourceUri`) };
    case 'OBJECT_STORAGE_TUPLE':
      return { sourceType, ...requireObjectStorageTuple(o, path) };
  }
}

function validateOutput(value: unknown): CommandOutput {
  const path = 'content.output';
  if (isAbsent(value)) return { outputType: 'TEXT' };
  const o = requireObject(value, path);
  const outputType = requireKind(o.outputType, `${path}.outputType`);
  switch (outputType) {
    case 'TEXT':
      return { outputType };
    case 'OBJECT_STORAGE_URI':
      return { outputType, outputUri: requireHttpUri(o.outputUri, `${path}.outputUri`) };
    case 'OBJECT_STORAGE_TUPLE':
      return { outputType, ...requireObjectStorageTuple(o, path) };
  }
}

function validateContent(value: unknown): CommandContent {
  const o = requireObject(value, 'content');
  const source = validateSource(o.source);
  const output = validateOutput(o.output);
  const commandString = optionalString(o.commandString, 'content.commandString');
  if (commandString !== undefined) {
    if (commandString.length === 0) throw invalid('content.commandString', 'must not be empty');
    if (codePointLength(commandString) > Limits.maxCommandStringLength) {
      throw invalid('content.commandString', `must be at most ${Limits.maxCommandStringLength} characters`);
    }
  }
  return { source, output, ...(commandString !== undefined ? { commandString } : {}) };
}

function validateTimeout(value: unknown): number {
  const path = 'executionTimeOutInSeconds';
  if (isAbsent(value)) throw missing(path);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < Limits.minTimeoutSec || value > Limits.maxTimeoutSec) {
    throw invalid(path, `must be an integer from ${Limits.minTimeoutSec} to ${Limits.maxTimeoutSec}`);
  }
  return value;
}

function validateDisplayName(value: unknown): string | undefined {
  const displayName = optionalString(value, 'displayName');
  if (displayName === undefined) return undefined;
  const length = codePointLength(displayName);
  if (length < Limits.minDisplayNameLength || length > Limits.maxDisplayNameLength) {
    throw invalid('displayName', `must be ${Limits.minDisplayNameLength} to ${Limits.maxDisplayNameLength} characters`);
  }
  return displayName;
}

/**
 * Turns a parsed `CreateInstanceAgentCommandDetails` body into a `CommandSpec`. Unknown keys are dropped (spec §11);
 * the result holds only known fields, with `content.output` defaulted to TEXT.
 */
export function validateCreateDetails(input: unknown): CommandSpec {
  if (!isPlainObject(input)) {
    throw new ServiceError('InvalidParameter', 'The request body must be a JSON object (CreateInstanceAgentCommandDetails).');
  }
  const compartmentId = requireOcid(input.compartmentId, 'compartmentId', COMPARTMENT_OCID_TYPES);
  const executionTimeOutInSeconds = validateTimeout(input.executionTimeOutInSeconds);
  const displayName = validateDisplayName(input.displayName);
  const target = requireObject(input.target, 'target');
  const instanceId = requireOcid(target.instanceId, 'target.instanceId', INSTANCE_OCID_TYPES);
  const content = validateContent(input.content);
  return {
    compartmentId,
    ...(displayName !== undefined ? { displayName } : {}),
    executionTimeOutInSeconds,
    target: { instanceId },
    content,
  };
}

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** The `opc-retry-token` header: absent (or empty) is fine; otherwise ≤ 64 printable ASCII characters. */
export function validateRetryToken(token: string | undefined): string | undefined {
  if (token === undefined || token === '') return undefined;
  if (token.length > Limits.maxRetryTokenLength || !PRINTABLE_ASCII.test(token)) {
    throw invalid('opc-retry-token', `must be at most ${Limits.maxRetryTokenLength} printable ASCII characters`);
  }
  return token;
}

/** Query parameters the SDK leaves out when unset; an empty value means the same. */
function presentParam(raw: string | null | undefined): string | undefined {
  return raw === null || raw === undefined || raw === '' ? undefined : raw;
}

/**
 * The `limit` query parameter: the default page size when absent; clamped to the maximum (spec §8: "clamp limit");
 * not a whole number, or below the minimum, is InvalidParameter.
 */
export function parseLimit(raw: string | null): number {
  const value = presentParam(raw);
  if (value === undefined) return Limits.defaultPageLimit;
  if (!/^\d{1,12}$/.test(value)) throw invalid('limit', `must be an integer from ${Limits.minPageLimit} to ${Limits.maxPageLimit}`);
  const n = Number(value);
  if (n < Limits.minPageLimit) throw invalid('limit', `must be an integer from ${Limits.minPageLimit} to ${Limits.maxPageLimit}`);
  return Math.min(n, Limits.maxPageLimit);
}

export const SortBy = { TIMECREATED: 'TIMECREATED', DISPLAYNAME: 'DISPLAYNAME' } as const;
export type SortBy = (typeof SortBy)[keyof typeof SortBy];
export const SortOrder = { ASC: 'ASC', DESC: 'DESC' } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];

function parseEnumParam<T extends string>(raw: string | null | undefined, name: string, values: readonly T[]): T | undefined {
  const value = presentParam(raw);
  if (value === undefined) return undefined;
  const upper = value.toUpperCase();
  const match = values.find((v) => v === upper);
  if (match === undefined) throw invalid(name, `must be one of ${values.join(', ')}`);
  return match;
}

/** `sortBy`, in any case; TIMECREATED when absent. */
export function parseSortBy(raw: string | null): SortBy {
  return parseEnumParam(raw, 'sortBy', Object.values(SortBy)) ?? SortBy.TIMECREATED;
}

/** `sortOrder`, in any case; when absent, newest first for TIMECREATED and A→Z for DISPLAYNAME (spec §4). */
export function parseSortOrder(raw: string | null, sortBy: SortBy): SortOrder {
  return parseEnumParam(raw, 'sortOrder', Object.values(SortOrder)) ?? (sortBy === SortBy.TIMECREATED ? SortOrder.DESC : SortOrder.ASC);
}

/** The `lifecycleState` filter of ListInstanceAgentCommandExecutions, case-insensitive; undefined when absent. */
export function parseLifecycleStateFilter(raw: string | null): LifecycleState | undefined {
  return parseEnumParam(raw, 'lifecycleState', Object.values(LifecycleStates));
}
