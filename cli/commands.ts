/**
 * `runcommand command create|get|list|cancel` and `runcommand execution get|list`: the oci CLI's
 * `instance-agent command` and `command-execution` groups, with the same option names.
 */
import { readFileSync, statSync } from 'node:fs';
import type { models, requests } from 'oci-computeinstanceagent';
import { optionInt, optionString, UsageError, type ParsedArgs } from './args';
import {
  GLOBAL_OPTIONS_HELP,
  apiContext,
  callApi,
  noPositionals,
  optionEnum,
  parseCommandArgs,
  required,
  withDefault,
  type ApiContext,
} from './context';
import { printResult } from './output';
import { LifecycleState } from '../shared/domain/model';
import { SortBy, SortOrder } from '../shared/domain/validation';

// The API's own value lists (shared/domain), as the CLI's choices.
const SORT_BY = Object.values(SortBy);
const SORT_ORDER = Object.values(SortOrder);
const LIFECYCLE_STATES = Object.values(LifecycleState);
const MAX_CONTENT_FILE_BYTES = 1024 * 1024;
/** --all stops here: a runaway listing must end. */
const MAX_PAGES = 1000;
const LIST_OPTIONS = ['sort-by', 'sort-order', 'limit', 'page'];

const COMMAND_COLUMNS = ['instanceAgentCommandId', 'displayName', 'timeCreated', 'isCanceled'];
const EXECUTION_COLUMNS = [
  'instanceAgentCommandId',
  'displayName',
  'lifecycleState',
  'deliveryState',
  'content.exitCode',
  'timeUpdated',
];

export const COMMAND_GROUP_HELP = `Usage: runcommand command <create|get|list|cancel> [options]

Commands (as in oci instance-agent command):
  create   create a command for an instance
  get      show a command
  list     list the commands of a compartment
  cancel   cancel a command (best effort)

Run 'runcommand command <subcommand> --help' for its options.
`;

export const EXECUTION_GROUP_HELP = `Usage: runcommand execution <get|list> [options]   (alias: command-execution)

Commands (as in oci instance-agent command-execution):
  get      show a command's execution on an instance: state, exit code, output
  list     list the executions on an instance

Run 'runcommand execution <subcommand> --help' for its options.
`;

export const COMMAND_CREATE_HELP = `Usage: runcommand command create --timeout-in-seconds N
         (--content-text T | --content-file F | --source-uri U | --bucket-name B --namespace-name N --object-name O)
         [--instance-id ID] [--compartment-id ID] [--display-name NAME] [--command-string S]
         [--output-text | --output-uri U | --output-bucket-name B --output-namespace-name N --output-object-name O]
         [--retry-token T]

Creates a command and prints it (InstanceAgentCommand). The script comes from text, a local file (sent as text, at
most 4 KB), an Object Storage URI, or a bucket/namespace/object; its output is kept as text (the last 1 KB, the
default) or uploaded to an Object Storage URI or object.

Options:
  --timeout-in-seconds N   how long the script may run, 0-86400 (0 = no limit)
  --instance-id ID         target instance (default: the platform's local instance)
  --compartment-id ID      (default: the platform's compartment)
  --display-name NAME
  --command-string S       the command line to run the fetched source with, e.g. '/bin/sh main.sh abc'
  --retry-token T          makes a retried create idempotent for 24 hours

${GLOBAL_OPTIONS_HELP}

Examples:
  runcommand command create --timeout-in-seconds 60 --content-text 'uptime'
  runcommand command create --timeout-in-seconds 600 --content-file ./backup.sh --display-name backup
  runcommand command create --timeout-in-seconds 60 --bucket-name scripts --namespace-name ns --object-name main.sh \\
      --command-string '/bin/sh main.sh abc' --output-uri https://objectstorage.../o/out.txt
`;

export const COMMAND_GET_HELP = `Usage: runcommand command get --instance-agent-command-id ID

Prints the command (InstanceAgentCommand).

${GLOBAL_OPTIONS_HELP}

Examples:
  runcommand command get --instance-agent-command-id ocid1.instanceagentcommand.oc1..xyz
  runcommand command get --instance-agent-command-id ocid1.instanceagentcommand.oc1..xyz --output table
`;

export const COMMAND_LIST_HELP = `Usage: runcommand command list [--compartment-id ID] [--sort-by TIMECREATED|DISPLAYNAME]
         [--sort-order ASC|DESC] [--limit N] [--page TOKEN] [--all]

Prints a JSON array of InstanceAgentCommandSummary. Without --all, one page: when more remain, the next page token is
printed on stderr (pass it as --page).

Options:
  --compartment-id ID   (default: the platform's compartment)
  --sort-by, --sort-order, --limit N (page size, 1-1000), --page TOKEN
  --all                 follow every page

${GLOBAL_OPTIONS_HELP}

Examples:
  runcommand command list --all --output table
  runcommand command list --sort-by displayname --sort-order asc --limit 10
`;

export const COMMAND_CANCEL_HELP = `Usage: runcommand command cancel --instance-agent-command-id ID [--if-match ETAG]

Cancels a command: a queued execution never runs; a running one is killed (best effort). Prints nothing.

${GLOBAL_OPTIONS_HELP}

Example:
  runcommand command cancel --instance-agent-command-id ocid1.instanceagentcommand.oc1..xyz
`;

export const EXECUTION_GET_HELP = `Usage: runcommand execution get --instance-agent-command-id ID [--instance-id ID]

Prints the execution (InstanceAgentCommandExecution): lifecycle and delivery state, exit code, output text.

Options:
  --instance-id ID   (default: the platform's local instance)

${GLOBAL_OPTIONS_HELP}

Examples:
  runcommand execution get --instance-agent-command-id ocid1.instanceagentcommand.oc1..xyz
  runcommand command-execution get --instance-agent-command-id ocid1... --instance-id ocid1.instance.oc1..abc
`;

export const EXECUTION_LIST_HELP = `Usage: runcommand execution list [--compartment-id ID] [--instance-id ID] [--lifecycle-state STATE]
         [--sort-by TIMECREATED|DISPLAYNAME] [--sort-order ASC|DESC] [--limit N] [--page TOKEN] [--all]

Prints a JSON array of InstanceAgentCommandExecutionSummary.

Options:
  --compartment-id ID     (default: the platform's compartment)
  --instance-id ID        (default: the platform's local instance)
  --lifecycle-state S     ${LIFECYCLE_STATES.join(', ')} (any case)
  --sort-by, --sort-order, --limit N, --page TOKEN, --all   as for 'command list'

${GLOBAL_OPTIONS_HELP}

Examples:
  runcommand execution list --lifecycle-state failed --all --output table
  runcommand command-execution list --instance-id ocid1.instance.oc1..abc --limit 5
`;

export async function commandCreate(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, {
    booleans: ['output-text'],
    values: [
      'compartment-id',
      'instance-id',
      'timeout-in-seconds',
      'display-name',
      'content-text',
      'content-file',
      'source-uri',
      'bucket-name',
      'namespace-name',
      'object-name',
      'command-string',
      'output-uri',
      'output-bucket-name',
      'output-namespace-name',
      'output-object-name',
      'retry-token',
    ],
  });
  noPositionals(args);
  const timeoutSec = optionInt(args, 'timeout-in-seconds', { min: 0, max: 86_400 });
  if (timeoutSec === undefined) throw new UsageError('--timeout-in-seconds is required');
  const source = sourceOf(args);
  const output = outputOf(args);
  const ctx = apiContext(globals);
  const displayName = optionString(args, 'display-name');
  const commandString = optionString(args, 'command-string');
  const retryToken = optionString(args, 'retry-token');
  const created = await callApi(() =>
    ctx.client.createInstanceAgentCommand({
      createInstanceAgentCommandDetails: {
        compartmentId: withDefault(args, 'compartment-id', ctx.platform?.compartmentId),
        executionTimeOutInSeconds: timeoutSec,
        ...(displayName !== undefined ? { displayName } : {}),
        target: { instanceId: withDefault(args, 'instance-id', ctx.platform?.localInstanceId) },
        content: { source, output, ...(commandString !== undefined ? { commandString } : {}) },
      },
      ...(retryToken !== undefined ? { opcRetryToken: retryToken } : {}),
    }),
  );
  printResult(ctx.out, globals.output, created.instanceAgentCommand);
  return 0;
}

/** Exactly one way to give the script. */
type SourceDetails =
  | models.InstanceAgentCommandSourceViaTextDetails
  | models.InstanceAgentCommandSourceViaObjectStorageUriDetails
  | models.InstanceAgentCommandSourceViaObjectStorageTupleDetails;
type OutputDetails =
  | models.InstanceAgentCommandOutputViaTextDetails
  | models.InstanceAgentCommandOutputViaObjectStorageUriDetails
  | models.InstanceAgentCommandOutputViaObjectStorageTupleDetails;

function sourceOf(args: ParsedArgs): SourceDetails {
  const tuple = ['bucket-name', 'namespace-name', 'object-name'];
  const given = ['content-text', 'content-file', 'source-uri'].filter((name) => args.options.has(name));
  const tupleGiven = tuple.filter((name) => args.options.has(name));
  if (given.length + (tupleGiven.length > 0 ? 1 : 0) !== 1) {
    throw new UsageError(
      'give the script one way: --content-text, --content-file, --source-uri, or --bucket-name --namespace-name --object-name',
    );
  }
  if (args.options.has('content-text')) {
    return { sourceType: 'TEXT', text: required(args, 'content-text') } as models.InstanceAgentCommandSourceViaTextDetails;
  }
  if (args.options.has('content-file')) {
    return { sourceType: 'TEXT', text: readContentFile(required(args, 'content-file')) } as models.InstanceAgentCommandSourceViaTextDetails;
  }
  if (args.options.has('source-uri')) {
    return { sourceType: 'OBJECT_STORAGE_URI', sourceUri: required(args, 'source-uri') } as models.InstanceAgentCommandSourceViaObjectStorageUriDetails;
  }
  return {
    sourceType: 'OBJECT_STORAGE_TUPLE',
    bucketName: required(args, 'bucket-name'),
    namespaceName: required(args, 'namespace-name'),
    objectName: required(args, 'object-name'),
  } as models.InstanceAgentCommandSourceViaObjectStorageTupleDetails;
}

/** At most one output target; text by default. */
function outputOf(args: ParsedArgs): OutputDetails {
  const tuple = ['output-bucket-name', 'output-namespace-name', 'output-object-name'];
  const given = ['output-text', 'output-uri'].filter((name) => args.options.has(name));
  const tupleGiven = tuple.some((name) => args.options.has(name));
  if (given.length + (tupleGiven ? 1 : 0) > 1) {
    throw new UsageError('give the output target one way: --output-text, --output-uri, or --output-bucket-name ...');
  }
  if (args.options.has('output-uri')) {
    return { outputType: 'OBJECT_STORAGE_URI', outputUri: required(args, 'output-uri') } as models.InstanceAgentCommandOutputViaObjectStorageUriDetails;
  }
  if (tupleGiven) {
    return {
      outputType: 'OBJECT_STORAGE_TUPLE',
      bucketName: required(args, 'output-bucket-name'),
      namespaceName: required(args, 'output-namespace-name'),
      objectName: required(args, 'output-object-name'),
    } as models.InstanceAgentCommandOutputViaObjectStorageTupleDetails;
  }
  return { outputType: 'TEXT' } as models.InstanceAgentCommandOutputViaTextDetails;
}

function readContentFile(file: string): string {
  try {
    if (statSync(file).size > MAX_CONTENT_FILE_BYTES) throw new Error(`larger than ${MAX_CONTENT_FILE_BYTES} bytes`);
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --content-file ${file}: ${(e as Error).message}`);
  }
}

export async function commandGet(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, { values: ['instance-agent-command-id'] });
  noPositionals(args);
  const id = required(args, 'instance-agent-command-id');
  const ctx = apiContext(globals);
  const got = await callApi(() => ctx.client.getInstanceAgentCommand({ instanceAgentCommandId: id }));
  printResult(ctx.out, globals.output, got.instanceAgentCommand);
  return 0;
}

export async function commandCancel(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, { values: ['instance-agent-command-id', 'if-match'] });
  noPositionals(args);
  const id = required(args, 'instance-agent-command-id');
  const ifMatch = optionString(args, 'if-match');
  const ctx = apiContext(globals);
  await callApi(() =>
    ctx.client.cancelInstanceAgentCommand({ instanceAgentCommandId: id, ...(ifMatch !== undefined ? { ifMatch } : {}) }),
  );
  return 0;
}

interface PageOptions {
  sortBy?: (typeof SORT_BY)[number];
  sortOrder?: (typeof SORT_ORDER)[number];
  limit?: number;
  page?: string;
  all: boolean;
}

function pageOptions(args: ParsedArgs): PageOptions {
  const sortBy = optionEnum(args, 'sort-by', SORT_BY);
  const sortOrder = optionEnum(args, 'sort-order', SORT_ORDER);
  const limit = optionInt(args, 'limit', { min: 1, max: 1000 });
  const page = optionString(args, 'page');
  const all = args.options.has('all');
  if (all && page !== undefined) throw new UsageError('--all starts at the first page: drop --page');
  return {
    ...(sortBy !== undefined ? { sortBy } : {}),
    ...(sortOrder !== undefined ? { sortOrder } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(page !== undefined ? { page } : {}),
    all,
  };
}

/** The SDK's list query: its enums are TS enums of these same upper-case strings. */
function listQuery(options: PageOptions, page: string | undefined): Record<string, unknown> {
  return {
    ...(page !== undefined ? { page } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.sortBy !== undefined ? { sortBy: options.sortBy } : {}),
    ...(options.sortOrder !== undefined ? { sortOrder: options.sortOrder } : {}),
  };
}

/** One page, or every page with --all; the next page token goes to stderr so stdout stays parseable. */
async function listPages<T>(
  ctx: ApiContext,
  options: PageOptions,
  fetchPage: (page: string | undefined) => Promise<{ items: T[]; opcNextPage?: string }>,
): Promise<T[]> {
  const items: T[] = [];
  let page = options.page;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const { items: got, opcNextPage } = await callApi(() => fetchPage(page));
    items.push(...got);
    if (!opcNextPage) return items;
    if (!options.all) {
      ctx.err.write(`more results: --page ${opcNextPage} (or --all)\n`);
      return items;
    }
    page = opcNextPage;
  }
  ctx.err.write(`stopped after ${MAX_PAGES} pages\n`);
  return items;
}

export async function commandList(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, { booleans: ['all'], values: ['compartment-id', ...LIST_OPTIONS] });
  noPositionals(args);
  const options = pageOptions(args);
  const ctx = apiContext(globals);
  const compartmentId = withDefault(args, 'compartment-id', ctx.platform?.compartmentId);
  const items = await listPages(ctx, options, (page) =>
    ctx.client.listInstanceAgentCommands({ compartmentId, ...listQuery(options, page) } as requests.ListInstanceAgentCommandsRequest),
  );
  printResult(ctx.out, globals.output, items, COMMAND_COLUMNS);
  return 0;
}

export async function executionGet(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, { values: ['instance-agent-command-id', 'instance-id'] });
  noPositionals(args);
  const id = required(args, 'instance-agent-command-id');
  const ctx = apiContext(globals);
  const instanceId = withDefault(args, 'instance-id', ctx.platform?.localInstanceId);
  const got = await callApi(() => ctx.client.getInstanceAgentCommandExecution({ instanceAgentCommandId: id, instanceId }));
  printResult(ctx.out, globals.output, got.instanceAgentCommandExecution);
  return 0;
}

export async function executionList(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, {
    booleans: ['all'],
    values: ['compartment-id', 'instance-id', 'lifecycle-state', ...LIST_OPTIONS],
  });
  noPositionals(args);
  const options = pageOptions(args);
  const lifecycleState = optionEnum(args, 'lifecycle-state', LIFECYCLE_STATES);
  const ctx = apiContext(globals);
  const compartmentId = withDefault(args, 'compartment-id', ctx.platform?.compartmentId);
  const instanceId = withDefault(args, 'instance-id', ctx.platform?.localInstanceId);
  const items = await listPages(ctx, options, (page) =>
    ctx.client.listInstanceAgentCommandExecutions({
      compartmentId,
      instanceId,
      ...listQuery(options, page),
      ...(lifecycleState !== undefined ? { lifecycleState } : {}),
    } as requests.ListInstanceAgentCommandExecutionsRequest),
  );
  printResult(ctx.out, globals.output, items, EXECUTION_COLUMNS);
  return 0;
}
