/**
 * The agent's side of `POST /20180530/agent/reports` (docs/agent-protocol.md), signed with the instance's API key.
 * Answers are mapped to typed errors: 400/404/409 are permanent (`ReportRejectedError`, with the OCI code),
 * everything else (5xx, 429, 401 while a key propagates, network failures) is retryable (`ReportTransientError`).
 */
import http from 'node:http';
import https from 'node:https';
import type { DeliveryState, LifecycleState } from '../shared/domain/model';
import type { ExecutionOutcome } from './executor';

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

export interface RequestToSign {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Buffer | string;
}

/** `shared/api/signature.ts`'s `signRequest` with the key bound: returns the headers to add. */
export type RequestSigner = (req: RequestToSign) => Record<string, string>;

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
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024;

function parseErrorBody(body: string): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed !== null && typeof parsed === 'object') {
      const { code, message } = parsed as { code?: unknown; message?: unknown };
      return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
    }
  } catch {
    // not JSON: fall through
  }
  return {};
}

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

  constructor(private readonly options: HttpReporterOptions) {
    this.url = new URL(REPORTS_PATH, `${options.apiEndpoint.replace(/\/+$/, '')}/`);
  }

  async report(report: AgentReport, options: { signal?: AbortSignal } = {}): Promise<ReportAnswer> {
    const body = JSON.stringify(report);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body, 'utf8')),
      host: this.url.host,
      'user-agent': this.options.userAgent ?? 'runcommand-agent',
      'opc-request-id': report.callbackId,
    };
    Object.assign(headers, this.options.sign({ method: 'POST', url: this.url, headers: { ...headers }, body }));
    const { status, text } = await this.send(headers, body, options.signal);
    if (status >= 200 && status < 300) return parseReportAnswer(text);
    const { code, message } = parseErrorBody(text);
    if (PERMANENT_STATUSES.has(status)) throw new ReportRejectedError(status, code ?? 'Unknown', message ?? `HTTP ${status}`);
    throw new ReportTransientError(`The report got HTTP ${status}${code !== undefined ? ` ${code}` : ''}${message !== undefined ? `: ${message}` : ''}`, status, code);
  }

  private send(headers: Record<string, string>, body: string, signal: AbortSignal | undefined): Promise<{ status: number; text: string }> {
    const client = this.url.protocol === 'https:' ? https : http;
    const maxBytes = this.options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    return new Promise((resolve, reject) => {
      const req = client.request(
        this.url,
        { method: 'POST', headers, timeout: this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS, ...(signal !== undefined ? { signal } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) {
              res.destroy(new Error(`The report answer is larger than ${maxBytes} bytes.`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', (err) => reject(new ReportTransientError(`Reading the report answer failed: ${err.message}`, res.statusCode, undefined, { cause: err })));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('The report request timed out.')));
      req.on('error', (err) => reject(new ReportTransientError(`The report request failed: ${err.message}`, undefined, undefined, { cause: err })));
      req.end(body);
    });
  }
}
