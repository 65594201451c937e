/** The CLI's exit codes. `run` exits with the script's own code when the script ran to completion. */
import type { models } from 'oci-computeinstanceagent';
import { TERMINAL_LIFECYCLE_STATES } from '../shared/domain/model';

export const ExitCode = {
  OK: 0,
  /** An API call failed (the service's error is printed), or the CLI itself failed. */
  API_ERROR: 1,
  /** Bad options or arguments. */
  USAGE: 2,
  /** run: the script was killed at its timeout (as timeout(1) exits). */
  TIMED_OUT: 124,
  /** run: the script could not run: FAILED without an exit code, delivery EXPIRED, or the service refused it. */
  COULD_NOT_RUN: 125,
  /** run: the command was canceled (also after Ctrl-C, which cancels it), as a shell exits after SIGINT. */
  CANCELED: 130,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  <n>   the script's exit code, when it ran to completion (SUCCEEDED, or FAILED with an exit code)
  124   TIMED_OUT: the script was killed at --timeout-in-seconds
  125   could not run: FAILED with no exit code, delivery EXPIRED, or the service refused the command
  130   CANCELED (Ctrl-C while waiting cancels the command and exits 130)
  1     an API error (printed as ServiceError: <code> (<status>): <message>)
  2     a usage error
  A script may itself exit 124, 125 or 130; the printed final state tells them apart.`;

/** Waiting ends at a terminal lifecycle state, or when delivery expired (the lifecycle then stays ACCEPTED). */
export function isFinished(execution: Pick<models.InstanceAgentCommandExecution, 'lifecycleState' | 'deliveryState'>): boolean {
  return (
    (TERMINAL_LIFECYCLE_STATES as readonly string[]).includes(execution.lifecycleState) ||
    execution.deliveryState === 'EXPIRED'
  );
}

export function exitCodeOf(execution: models.InstanceAgentCommandExecution): number {
  const exitCode = (execution.content as { exitCode?: number | null } | undefined)?.exitCode;
  const ranToExit = typeof exitCode === 'number' && Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 255;
  switch (execution.lifecycleState) {
    case 'SUCCEEDED':
      return ranToExit ? exitCode : ExitCode.OK;
    case 'FAILED':
      // A FAILED execution that reports exit 0 did not complete as the script meant: it could not run.
      return ranToExit && exitCode !== 0 ? exitCode : ExitCode.COULD_NOT_RUN;
    case 'TIMED_OUT':
      return ExitCode.TIMED_OUT;
    case 'CANCELED':
      return ExitCode.CANCELED;
    default:
      return ExitCode.COULD_NOT_RUN;
  }
}
