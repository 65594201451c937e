/**
 * The agent's side of `POST /20180530/agent/reports` (docs/agent-protocol.md), signed with the instance's API key.
 * Answers are mapped to typed errors: 400/404/409 are permanent (`ReportRejectedError`, with the OCI code),
 * everything else (5xx, 429, 401 while a key propagates, network failures) is retryable (`ReportTransientError`).
 */
import type { DeliveryState, LifecycleState } from '../shared/domain/model';
import type { ExecutionOutcome } from './executor';
import { SignedHttpClient, parseErrorBody, type HttpAnswer, type RequestSigner } from './http';

export type ReportEventType = 'RECEIVE' | 'ACK' | 'START' | 'FINISH';

export interface ReportEvent {
  type: ReportEventType;
  at: string;
  outcome?: ExecutionOutcome;
  exitCode?: number | null;
  message?: string;
  text?: string;
  textSha256?: string;
}

export interface AgentReport {
  /** Unique per report; retries of one report reuse it, so the server can apply it once. */
  callbackId: string;
  /** Rises with every report an agent makes (across restarts too); for ordering and diagnostics. */
  sequence: number;
  agentSessionId: string;
  instanceAgentCommandId: string;
  event: ReportEvent;
}

export interface ReportAnswer {
  lifecycleState: LifecycleState;
  deliveryState: DeliveryState;
  changed: boolean;
  /** ACK only: true for the one session whose ack won, when the command was not canceled. */
  run: boolean;
}

export interface Reporter {
  report(report: AgentReport, options?: { signal?: AbortSignal }): Promise<ReportAnswer>;
}

export class ReportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReportError';
  }
}

/** A final answer: retrying the same report can never succeed (or it has no effect left to have). */
export class ReportRejectedError extends ReportError {
  constructor(
    readonly status: number,
    /** The OCI error code, e.g. `Conflict`, `IncorrectState`, `NotAuthorizedOrNotFound`. */
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = 'ReportRejectedError';
  }
}

export class ReportTransientError extends ReportError {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReportTransientError';
  }
}

/** A 2xx whose body is not an answer: the server took the report, so resending would not help either. */
export class ReportAnswerInvalidError extends ReportError {
  constructor(message: string) {
    super(message);
    this.name = 'ReportAnswerInvalidError';
  }
}

/** Whether the outbox should drop the report rather than retry it. */
export function isPermanentReportFailure(err: unknown): boolean {
  return err instanceof ReportRejectedError || err instanceof ReportAnswerInvalidError;
}

export interface HttpReporterOptions {
  apiEndpoint: string;
  sign: RequestSigner;
  timeoutMs?: number;
  /** Largest answer body read. */
  maxAnswerBytes?: number;
  userAgent?: string;
}

export const REPORTS_PATH = '/20180530/agent/reports';
const PERMANENT_STATUSES: ReadonlySet<number> = new Set([400, 404, 409]);

export function parseReportAnswer(body: string): ReportAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ReportAnswerInvalidError('The report answer is not JSON.');
  }
  const a = parsed as Partial<Record<keyof ReportAnswer, unknown>> | null;
  if (a === null || typeof a !== 'object' || typeof a.lifecycleState !== 'string' || typeof a.deliveryState !== 'string' || typeof a.changed !== 'boolean') {
    throw new ReportAnswerInvalidError('The report answer lacks lifecycleState, deliveryState or changed.');
  }
  return {
    lifecycleState: a.lifecycleState as LifecycleState,
    deliveryState: a.deliveryState as DeliveryState,
    changed: a.changed,
    // Anything but an explicit true means "do not run": the safe reading of a malformed ack answer.
    run: a.run === true,
  };
}

export class HttpReporter implements Reporter {
  private readonly url: URL;
  private readonly http: SignedHttpClient;

  constructor(options: HttpReporterOptions) {
    this.url = new URL(REPORTS_PATH, `${options.apiEndpoint.replace(/\/+$/, '')}/`);
    this.http = new SignedHttpClient(options);
  }

  async report(report: AgentReport, options: { signal?: AbortSignal } = {}): Promise<ReportAnswer> {
    let answer: HttpAnswer;
    try {
      answer = await this.http.request('POST', this.url, {
        body: JSON.stringify(report),
        headers: { 'opc-request-id': report.callbackId },
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      });
    } catch (err) {
      throw new ReportTransientError(`The report request failed: ${(err as Error).message}`, undefined, undefined, { cause: err });
    }
    const { status, text } = answer;
    if (status >= 200 && status < 300) return parseReportAnswer(text);
    const { code, message } = parseErrorBody(text);
    if (PERMANENT_STATUSES.has(status)) throw new ReportRejectedError(status, code ?? 'Unknown', message ?? `HTTP ${status}`);
    throw new ReportTransientError(`The report got HTTP ${status}${code !== undefined ? ` ${code}` : ''}${message !== undefined ? `: ${message}` : ''}`, status, code);
  }

  /** Closes idle connections. */
  close(): void {
    this.http.close();
  }
}
