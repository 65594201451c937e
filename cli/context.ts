/**
 * What every API command shares: the global options, the platform description in `<dataDir>/platform.json`, the
 * signed ComputeInstanceAgentClient, and how API failures are printed.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as common from 'oci-common';
import { ComputeInstanceAgentClient } from 'oci-computeinstanceagent';
import { dataPaths, type PlatformInfo } from '../platform/platform';
import { fastSigningClientParams } from '../shared/adapters/oci/key-signer';
import { classifySdkFailure } from '../shared/adapters/oci/sdk-errors';
import { UsageError, optionString, parseArgs, type ParsedArgs } from './args';
import type { OutputFormat, Writer } from './output';
import { defaultDataDir } from './up';

export const GLOBAL_VALUE_OPTIONS = ['output', 'config-file', 'profile', 'endpoint', 'data-dir'] as const;

export const GLOBAL_OPTIONS_HELP = `Global options:
  --output json|table   how results print (default json: the API's models, pretty-printed)
  --config-file F       OCI config file (default: the platform's, from platform.json; else ~/.oci/config)
  --profile P           profile in that file (default: the platform's; else DEFAULT)
  --endpoint URL        the API endpoint (default: the platform's, from platform.json)
  --data-dir DIR        where platform.json is (env RUNCOMMAND_DATA_DIR, default ~/.runcommand)
  --help                this help`;

export interface GlobalOptions {
  output: OutputFormat;
  /** Whether --output was given (commands with a plain default, like run, switch only then). */
  outputGiven: boolean;
  configFile?: string;
  profile?: string;
  endpoint?: string;
  dataDir: string;
}

export interface CommandSpec {
  booleans?: readonly string[];
  values?: readonly string[];
}

/** Parses a command's own options plus the global ones. */
export function parseCommandArgs(argv: readonly string[], spec: CommandSpec): { args: ParsedArgs; globals: GlobalOptions } {
  const args = parseArgs(argv, { booleans: spec.booleans ?? [], values: [...(spec.values ?? []), ...GLOBAL_VALUE_OPTIONS] });
  const output = optionString(args, 'output') ?? 'json';
  if (output !== 'json' && output !== 'table') throw new UsageError('--output must be json or table');
  const configFile = optionString(args, 'config-file');
  const profile = optionString(args, 'profile');
  const endpoint = optionString(args, 'endpoint');
  return {
    args,
    globals: {
      output,
      outputGiven: args.options.has('output'),
      ...(configFile !== undefined ? { configFile: path.resolve(configFile) } : {}),
      ...(profile !== undefined ? { profile } : {}),
      ...(endpoint !== undefined ? { endpoint: endpoint.replace(/\/+$/, '') } : {}),
      dataDir: path.resolve(optionString(args, 'data-dir') ?? defaultDataDir()),
    },
  };
}

/** Rejects positional words a command does not take (a typo'd option value usually lands here). */
export function noPositionals(args: ParsedArgs): void {
  if (args.positional.length > 0) throw new UsageError(`unexpected argument '${args.positional[0] ?? ''}'`);
}

/** platform.json of the data dir, when a platform has been started there. */
export function readPlatformInfo(dataDir: string): PlatformInfo | undefined {
  const file = dataPaths(dataDir).platformJson;
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PlatformInfo;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

export interface ApiContext {
  globals: GlobalOptions;
  platform: PlatformInfo | undefined;
  endpoint: string;
  authProvider: common.AuthenticationDetailsProvider;
  client: ComputeInstanceAgentClient;
  out: Writer;
  err: Writer;
}

/**
 * oci-common console.warns every failed attempt ("Request cannot be retried..."), repeating the error the CLI prints
 * itself; RUNCOMMAND_DEBUG=1 keeps those lines.
 */
function quietSdkWarnings(): void {
  if (!process.env.RUNCOMMAND_DEBUG) console.warn = () => undefined;
}

export function apiContext(globals: GlobalOptions): ApiContext {
  quietSdkWarnings();
  const platform = readPlatformInfo(globals.dataDir);
  const endpoint = globals.endpoint ?? platform?.endpoint;
  if (!endpoint) {
    throw new UsageError(`no endpoint: pass --endpoint, or start the platform (npm start) so ${globals.dataDir}/platform.json exists`);
  }
  // The platform's own config is the default only with no --config-file: a given file starts at its DEFAULT profile.
  const configFile =
    globals.configFile ?? platform?.ociConfigFile ?? path.join(os.homedir(), '.oci', 'config');
  const profile = globals.profile ?? (globals.configFile === undefined ? platform?.ociProfile : undefined) ?? 'DEFAULT';
  let authProvider: common.AuthenticationDetailsProvider;
  try {
    authProvider = new common.ConfigFileAuthenticationDetailsProvider(configFile, profile);
  } catch (e) {
    throw new UsageError(`cannot use OCI config ${configFile} [${profile}]: ${(e as Error).message}`);
  }
  const client = new ComputeInstanceAgentClient(fastSigningClientParams(authProvider));
  client.endpoint = endpoint;
  return { globals, platform, endpoint, authProvider, client, out: process.stdout, err: process.stderr };
}

/** An option, else the platform's value, else a usage error naming the option. */
export function withDefault(args: ParsedArgs, name: string, fallback: string | undefined): string {
  const value = optionString(args, name) ?? fallback;
  if (value === undefined || value === '') {
    throw new UsageError(`--${name} is required (no platform.json to take a default from)`);
  }
  return value;
}

export function required(args: ParsedArgs, name: string): string {
  const value = optionString(args, name);
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** `--sort-by`-style enums: any case in, the API's upper case out (as the oci CLI does). */
export function optionEnum<T extends string>(args: ParsedArgs, name: string, allowed: readonly T[]): T | undefined {
  const value = optionString(args, name);
  if (value === undefined) return undefined;
  const upper = value.toUpperCase() as T;
  if (!allowed.includes(upper)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return upper;
}

/** An API (or connection) failure, printed the way OCI tools print them; callers exit 1. */
export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly statusCode: number | undefined,
    readonly serviceCode: string | undefined,
    readonly opcRequestId: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApiFailure';
  }

  describe(): string {
    const head =
      this.statusCode !== undefined
        ? `ServiceError: ${this.serviceCode ?? 'None'} (${this.statusCode}): ${this.message}`
        : `ServiceError: could not reach the service: ${this.message}`;
    return this.opcRequestId ? `${head}\nopc-request-id: ${this.opcRequestId}\n` : `${head}\n`;
  }
}

/** Runs one SDK call, turning its failure into an `ApiFailure`. */
export async function callApi<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (e) {
    throw toApiFailure(e);
  }
}

export function toApiFailure(e: unknown): unknown {
  const failure = classifySdkFailure(e);
  if (failure === undefined) return e;
  const opcRequestId = (e as { opcRequestId?: unknown }).opcRequestId;
  const requestId = typeof opcRequestId === 'string' && opcRequestId ? opcRequestId : undefined;
  return failure.kind === 'service'
    ? new ApiFailure(failure.message, failure.statusCode, failure.serviceCode, requestId, { cause: e })
    : new ApiFailure(failure.message || 'connection failed', undefined, undefined, requestId, { cause: e });
}
