/** `runcommand run`: create a command (on this host's instance by default), wait for it, print its output. */
import { readFileSync, statSync } from 'node:fs';
import type { models } from 'oci-computeinstanceagent';
import { OciStreamAdmin } from '../shared/adapters/oci/stream-admin';
import { OciStream } from '../shared/adapters/oci/stream';
import { optionInt, optionString, UsageError } from './args';
import {
  GLOBAL_OPTIONS_HELP,
  apiContext,
  callApi,
  noPositionals,
  parseCommandArgs,
  withDefault,
  ApiFailure,
  type ApiContext,
} from './context';
import { EXIT_CODES_HELP, ExitCode, exitCodeOf } from './exit-codes';
import { printResult } from './output';
import { Progress, type ProgressMode } from './progress';
import { ExecutionEventFollower, waitForExecution, type Execution } from './wait';

export const RUN_HELP = `Usage: runcommand run [--instance-id ID] [--timeout-in-seconds N] [--display-name NAME]
                      [--file F | -- <script words...>] [--progress]

Creates a command on an instance (this host's, localInstanceId in platform.json, by default), waits for it while
showing progress on stderr, prints its output text on stdout and exits with the script's exit code. The script is the
file F, or the words after --, joined by spaces (so quote what the shell would otherwise expand).

Waiting follows the execution-events stream (a long poll: a change shows the moment it happens); when that stream
cannot be read (e.g. a user limited to some compartments) it polls the execution instead. Ctrl-C while waiting cancels
the command.

Options:
  --instance-id ID          target instance (default: the platform's local instance)
  --compartment-id ID       compartment for the command (default: the platform's)
  --timeout-in-seconds N    how long the script may run, 0-86400, 0 = no limit (default 3600)
  --display-name NAME       a name for the command (default: the script's first line)
  --file F                  the script to run (at most 4 KB)
  --progress                show progress even when stderr is not a terminal (a line per state change)
  --output json|table       print the finished execution instead of its output text

${EXIT_CODES_HELP}

${GLOBAL_OPTIONS_HELP}

Examples:
  runcommand run -- uname -a
  runcommand run -- 'df -h / && uptime'
  runcommand run --file ./backup.sh --timeout-in-seconds 600 --display-name backup
  runcommand run --instance-id ocid1.instance.oc1..xyz -- systemctl restart nginx
`;

const DEFAULT_TIMEOUT_SEC = 3600;
const MAX_SCRIPT_FILE_BYTES = 1024 * 1024;
const MAX_DISPLAY_NAME_CHARS = 255;

export async function run(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, {
    booleans: ['progress'],
    values: ['instance-id', 'compartment-id', 'timeout-in-seconds', 'display-name', 'file'],
  });
  noPositionals(args);
  const file = optionString(args, 'file');
  if (file !== undefined && args.rest.length > 0) throw new UsageError('give the script as --file F or after --, not both');
  const script = file !== undefined ? readScriptFile(file) : args.rest.join(' ');
  if (script.trim() === '') throw new UsageError('no script: give --file F or the script after --');
  const timeoutSec = optionInt(args, 'timeout-in-seconds', { min: 0, max: 86_400 }) ?? DEFAULT_TIMEOUT_SEC;

  const ctx = apiContext(globals);
  const instanceId = withDefault(args, 'instance-id', ctx.platform?.localInstanceId);
  const compartmentId = withDefault(args, 'compartment-id', ctx.platform?.compartmentId);
  const displayName = optionString(args, 'display-name') ?? defaultDisplayName(script);
  const startedMs = Date.now();
  const mode: ProgressMode = process.stderr.isTTY ? 'live' : args.options.has('progress') ? 'lines' : 'off';
  const progress = new Progress(process.stderr, mode, startedMs);

  const interrupted = new AbortController();
  const onSigint = (): void => {
    // A second Ctrl-C while the cancel is in flight leaves at once.
    if (interrupted.signal.aborted) process.exit(ExitCode.CANCELED);
    interrupted.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  try {
    const changes = await openEvents(ctx, progress);
    if (interrupted.signal.aborted) return ExitCode.CANCELED;
    const created = await callApi(() =>
      ctx.client.createInstanceAgentCommand({
        createInstanceAgentCommandDetails: {
          compartmentId,
          executionTimeOutInSeconds: timeoutSec,
          displayName,
          target: { instanceId },
          content: {
            source: { sourceType: 'TEXT', text: script } as models.InstanceAgentCommandSourceViaTextDetails,
            output: { outputType: 'TEXT' } as models.InstanceAgentCommandOutputViaTextDetails,
          },
        },
      }),
    ).catch((e: unknown) => {
      // The service refused the command itself (too large, bad timeout...): the script could not run.
      if (e instanceof ApiFailure && e.statusCode === 400) {
        process.stderr.write(e.describe());
        throw new CouldNotRun();
      }
      throw e;
    });
    const id = created.instanceAgentCommand.id;
    if (interrupted.signal.aborted) return await cancelAndExit(ctx, id, progress);
    progress.note(`command ${id}`);

    const getExecution = (): Promise<Execution> =>
      callApi(() => ctx.client.getInstanceAgentCommandExecution({ instanceAgentCommandId: id, instanceId })).then(
        (r) => r.instanceAgentCommandExecution,
      );
    let finished: Execution;
    try {
      finished = await waitForExecution({
        getExecution,
        ...(changes ? { changes: changes.changesOf(id, instanceId) } : {}),
        onUpdate: (e) => progress.update(e),
        onStreamFailed: (e) => progress.note(`following the stream failed (${describe(e)}); polling instead`),
        signal: interrupted.signal,
      });
    } catch (e) {
      if (interrupted.signal.aborted) return await cancelAndExit(ctx, id, progress);
      throw e;
    }
    // The event carries the execution too, but the API's answer is the one of record.
    const final = await getExecution().catch(() => finished);
    return report(ctx, final, progress);
  } catch (e) {
    if (e instanceof CouldNotRun) return ExitCode.COULD_NOT_RUN;
    throw e;
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
}

class CouldNotRun extends Error {}

function readScriptFile(file: string): string {
  try {
    if (statSync(file).size > MAX_SCRIPT_FILE_BYTES) throw new Error(`larger than ${MAX_SCRIPT_FILE_BYTES} bytes`);
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --file ${file}: ${(e as Error).message}`);
  }
}

function defaultDisplayName(script: string): string {
  const firstLine = script.split('\n').find((line) => line.trim() !== '' && !line.startsWith('#!')) ?? 'run';
  return firstLine.trim().slice(0, MAX_DISPLAY_NAME_CHARS);
}

/** The execution-events stream, when platform.json names it and this user may read it; otherwise polling. */
async function openEvents(ctx: ApiContext, progress: Progress): Promise<ExecutionEventFollower | undefined> {
  const streamId = ctx.platform?.executionEventsStreamId;
  if (!streamId) return undefined;
  try {
    const admin = new OciStreamAdmin({ authProvider: ctx.authProvider, endpoint: ctx.endpoint });
    const info = await admin.getStream(streamId);
    const stream = new OciStream({ endpoint: info.messagesEndpoint || ctx.endpoint, authProvider: ctx.authProvider });
    return await ExecutionEventFollower.open(stream, streamId, info.partitions);
  } catch (e) {
    progress.note(`cannot follow execution-events (${describe(e)}); polling the execution instead`);
    return undefined;
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function cancelAndExit(ctx: ApiContext, commandId: string, progress: Progress): Promise<number> {
  progress.finish('interrupted: canceling the command');
  try {
    await callApi(() => ctx.client.cancelInstanceAgentCommand({ instanceAgentCommandId: commandId }));
    process.stderr.write(`canceled ${commandId}\n`);
  } catch (e) {
    process.stderr.write(e instanceof ApiFailure ? e.describe() : `cancel failed: ${describe(e)}\n`);
  }
  return ExitCode.CANCELED;
}

function report(ctx: ApiContext, execution: Execution, progress: Progress): number {
  const code = exitCodeOf(execution);
  const content = execution.content as { outputType?: string; text?: string; message?: string; exitCode?: number | null };
  const exit = typeof content.exitCode === 'number' ? `, exit ${content.exitCode}` : '';
  const delivery = execution.deliveryState === 'EXPIRED' ? ' (delivery EXPIRED: no agent took it in time)' : '';
  progress.finish(`${execution.lifecycleState}${delivery}${exit}`);
  if (ctx.globals.outputGiven) {
    printResult(ctx.out, ctx.globals.output, execution);
    return code;
  }
  if (content.outputType === 'TEXT') {
    if (content.text) ctx.out.write(content.text);
  } else {
    process.stderr.write(`the output went to Object Storage (${content.outputType ?? 'unknown'})\n`);
  }
  if (execution.lifecycleState !== 'SUCCEEDED') {
    const why = content.message ? `: ${content.message}` : '';
    process.stderr.write(`runcommand: ${execution.lifecycleState}${delivery}${exit}${why}\n`);
  }
  return code;
}
