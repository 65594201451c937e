/**
 * The one place that knows the @fnproject/fdk 0.0.76 contract (spec fn-fdk-and-events.md §1, §2.3, §5.2).
 * Handlers elsewhere stay one expression: `httpFunction((req, signal) => useCase(...))`.
 *
 * FDK traps handled here:
 * - `inputMode: 'buffer'` only: `json`/`string` corrupt UTF-8 split across 64 KiB chunks, and `json` passes malformed
 *   JSON through as a string.
 * - The FDK is always handed `rawResult(string)`: `undefined`/`null` results crash the process.
 * - Response headers are validated before the FDK sees them: it sets them inside a promise callback, so an invalid
 *   one would be an unhandled rejection that kills the process.
 * - `ctx.getConfig()` and `httpGateway.getAllHeaderValues()` throw; neither is used.
 * - A thrown error's text goes into the FDK's 502 body, so nothing unexpected is ever thrown with its own text.
 */
import * as fdk from '@fnproject/fdk';
import type { Context } from '@fnproject/fdk';
import { validateHeaderName, validateHeaderValue } from 'http';
import { ServiceError, isServiceError } from '../domain/errors';
import { systemClock, type Clock } from '../ports/clock';

export interface FnHttpRequest {
  method: string;
  /** Path and query, from `Fn-Http-Request-Url` (an absolute URL from an Fn trigger is cut to path+query). */
  url: string;
  /** The original client headers (`Fn-Http-H-*` and the unprefixed Content-Type): lower-case names, first value. */
  headers: Record<string, string>;
  body: Buffer;
  callId: string | null;
  deadline: Date | null;
}

export interface FnHttpResponse {
  status: number;
  headers?: Record<string, string>;
  /** Serialised as JSON; omit for no body (e.g. 204). */
  body?: unknown;
}

export interface FnEventContext {
  callId: string | null;
  deadline: Date | null;
  signal: AbortSignal;
}

/** What the wrapper hands back to the FDK: a status for `Fn-Http-Status`, gateway headers and a body. */
export interface FnReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The call metadata the wrapper reads from the FDK context. */
export interface FnCall {
  callId: string | null;
  deadline: Date | null;
}

/** Long work stops this long before `Fn-Deadline`, so the answer still reaches the caller in time. */
export const DEADLINE_MARGIN_MS = 500;

const JSON_CONTENT_TYPE = 'application/json';
/** setTimeout's limit; a longer deadline is effectively none. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ABSOLUTE_URL = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

export type LogLine = (line: string) => void;
const stderrLog: LogLine = (line) => process.stderr.write(`${line}\n`);

/** Serve a function behind an API gateway (or an Fn HTTP trigger). */
export function httpFunction(handle: (req: FnHttpRequest, signal: AbortSignal) => Promise<FnHttpResponse>): void {
  serve(async (body, ctx, signal) => answerHttp(handle, toHttpRequest(body, ctx), signal));
}

/**
 * Serve a function invoked directly (Object Storage events, schedules, stream batches). A ServiceError below 500
 * is permanent: it is answered (status in `Fn-Http-Status`) so the invoker does not retry forever. Anything else
 * fails the call with a 502, which the invoker retries.
 */
export function eventFunction<T>(
  parse: (body: Buffer) => T,
  handle: (input: T, ctx: FnEventContext) => Promise<unknown>,
): void {
  serve(async (body, ctx, signal) => answerEvent(parse, handle, body, { ...callOf(ctx), signal }));
}

/** UTF-8 decode and JSON.parse, for handlers that take a JSON body. */
export function parseJsonBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new ServiceError('CannotParseRequest', 'The request body is empty; a JSON document is required.');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ServiceError('CannotParseRequest', 'The request body is not valid JSON.', { cause: e });
  }
}

/**
 * The embedded platform's function runner (not Fn or OCI) sets this and holds the process's stdin open: when the
 * platform dies, even by SIGKILL, stdin ends and the function process exits instead of lingering as an orphan.
 */
function exitWithParent(): void {
  if (process.env.RUNCOMMAND_EXIT_WITH_PARENT !== '1') return;
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

function serve(answer: (body: Buffer, ctx: Context, signal: AbortSignal) => Promise<FnReply>): void {
  exitWithParent();
  fdk.handle(
    async (body, ctx) => {
      const deadline = deadlineSignal(callOf(ctx).deadline, systemClock);
      try {
        const reply = await answer(body, ctx, deadline.signal);
        const gateway = ctx.httpGateway;
        gateway.statusCode = reply.status;
        ctx.responseContentType = JSON_CONTENT_TYPE;
        for (const [name, value] of Object.entries(reply.headers)) gateway.setResponseHeader(name, value);
        return fdk.rawResult(reply.body);
      } finally {
        deadline.dispose();
      }
    },
    { inputMode: 'buffer' },
  );
}

/** Run an HTTP handler and turn whatever it does into a reply; never throws. */
export async function answerHttp(
  handle: (req: FnHttpRequest, signal: AbortSignal) => Promise<FnHttpResponse>,
  req: FnHttpRequest,
  signal: AbortSignal,
  log: LogLine = stderrLog,
): Promise<FnReply> {
  try {
    const res = await handle(req, signal);
    const headers = res.headers ?? {};
    checkStatus(res.status);
    checkHeaders(headers);
    return { status: res.status, headers, body: res.body === undefined ? '' : JSON.stringify(res.body) };
  } catch (e) {
    if (isServiceError(e)) return errorReply(e);
    logUnexpected(log, e, req.callId, signal);
    return {
      status: 500,
      headers: {},
      body: JSON.stringify({ code: 'InternalServerError', message: `Internal error (call ${req.callId ?? 'unknown'})` }),
    };
  }
}

/** Parse and run an event handler. Throws (a text-free error) only when the invoker should retry. */
export async function answerEvent<T>(
  parse: (body: Buffer) => T,
  handle: (input: T, ctx: FnEventContext) => Promise<unknown>,
  body: Buffer,
  ctx: FnEventContext,
  log: LogLine = stderrLog,
): Promise<FnReply> {
  try {
    const result = await handle(parse(body), ctx);
    return { status: 200, headers: {}, body: JSON.stringify(result === undefined ? {} : result) };
  } catch (e) {
    if (isServiceError(e) && e.status < 500) return errorReply(e);
    logUnexpected(log, e, ctx.callId, ctx.signal);
    throw new Error(`Function failed (call ${ctx.callId ?? 'unknown'})`);
  }
}

export function toHttpRequest(body: Buffer, ctx: Pick<Context, 'httpGateway' | 'contentType' | 'callID' | 'deadline'>): FnHttpRequest {
  const gateway = ctx.httpGateway;
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(gateway.headers)) {
    const first = values[0];
    if (first !== undefined) headers[name.toLowerCase()] = first;
  }
  // The gateway passes Content-Type through unprefixed, so it is not among the Fn-Http-H-* headers.
  if (ctx.contentType !== null) headers['content-type'] = ctx.contentType;
  return {
    method: (gateway.method ?? 'POST').toUpperCase(),
    url: pathAndQuery(gateway.requestURL ?? '/'),
    headers,
    body,
    ...callOf(ctx),
  };
}

/** An abort signal that fires `marginMs` before the deadline; `dispose` stops its timer when the call ends. */
export function deadlineSignal(
  deadline: Date | null,
  clock: Clock,
  marginMs: number = DEADLINE_MARGIN_MS,
): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  if (deadline === null) return { signal: controller.signal, dispose: () => undefined };
  const reason = Object.assign(new Error('The invocation deadline passed.'), { name: 'TimeoutError' });
  const remainingMs = deadline.getTime() - marginMs - clock.nowMs();
  if (remainingMs <= 0) {
    controller.abort(reason);
    return { signal: controller.signal, dispose: () => undefined };
  }
  const timer = setTimeout(() => controller.abort(reason), Math.min(remainingMs, MAX_TIMER_MS));
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}

function callOf(ctx: Pick<Context, 'callID' | 'deadline'>): FnCall {
  const deadline = ctx.deadline;
  return { callId: ctx.callID, deadline: deadline !== null && !Number.isNaN(deadline.getTime()) ? deadline : null };
}

function pathAndQuery(url: string): string {
  const path = url.replace(ABSOLUTE_URL, '');
  return path.startsWith('/') ? path : `/${path}`;
}

function errorReply(e: ServiceError): FnReply {
  return { status: e.status, headers: {}, body: JSON.stringify(e.toBody()) };
}

function checkStatus(status: number): void {
  if (!Number.isInteger(status) || status < 200 || status > 599) throw new Error(`Invalid response status ${String(status)}`);
}

function checkHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw new Error(`Response header ${name} is not a string`);
    validateHeaderName(`Fn-Http-H-${name}`);
    validateHeaderValue(name, value);
  }
}

function logUnexpected(log: LogLine, e: unknown, callId: string | null, signal: AbortSignal): void {
  const detail = e instanceof Error ? (e.stack ?? String(e)) : String(e);
  const when = signal.aborted ? ' after its deadline passed' : '';
  log(`Function call ${callId ?? 'unknown'} failed${when}: ${detail}`);
}
