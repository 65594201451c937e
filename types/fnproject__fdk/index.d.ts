/**
 * Types for @fnproject/fdk 0.0.76, which ships none (spec fn-fdk-and-events.md §3).
 * Only `shared/fn/handler.ts` may import this module; the traps it has are typed out of reach where possible.
 */
declare module '@fnproject/fdk' {
  import type { Readable } from 'stream';

  /** Any other mode crashes the process on the first request, so none is allowed. */
  export type InputMode = 'json' | 'string' | 'buffer';

  export interface HandleOptions {
    inputMode?: InputMode;
  }

  /** A result written by its own writer (no JSON quoting). The brand exists only in the types. */
  export interface FnResult {
    readonly __brand: 'FnResult';
  }

  export interface TracingContext {
    readonly isEnabled: boolean;
    readonly traceCollectorUrl: string | undefined;
    readonly traceId: string | null;
    readonly spanId: string | null;
    readonly parentSpanId: string | null;
    readonly sampled: boolean;
    readonly flags: string | null;
    readonly serviceName: string;
  }

  export interface HTTPGatewayContext {
    /** `Fn-Http-Request-Url`: path+query behind OCI API Gateway, a full URL behind an Fn trigger. */
    readonly requestURL: string | null;
    readonly method: string | null;
    /** The `Fn-Http-H-*` headers, prefix stripped, canonical names. Content-Type is not among them. */
    readonly headers: Record<string, string[]>;
    getHeader(key: string): string | null;
    /** @deprecated Throws a TypeError when the header is absent (FDK bug); use `headers` or `getHeader`. */
    getAllHeaderValues(key: string): never;
    /** Sends `Fn-Http-Status`; write-only in 0.0.76. */
    set statusCode(status: number);
    /** `Fn-Http-H-<key>`, except Content-Type, which sets the real response content type. */
    setResponseHeader(key: string, ...values: string[]): void;
    addResponseHeader(key: string, ...values: string[]): void;
  }

  export interface Context {
    readonly callID: string | null;
    readonly deadline: Date | null;
    readonly appID: string | undefined;
    readonly appName: string | undefined;
    readonly fnID: string | undefined;
    readonly fnName: string | undefined;
    readonly memory: number;
    /** A copy of `process.env`: app and function config arrive as env vars. */
    readonly config: Record<string, string | undefined>;
    readonly body: unknown;
    readonly contentType: string | null;
    readonly headers: Record<string, string[]>;
    readonly tracingContext: TracingContext;
    readonly httpGateway: HTTPGatewayContext;
    readonly responseHeaders: Record<string, string[]>;
    /** Pre-set to `application/json` before the handler runs. */
    responseContentType: string | null;
    getHeader(key: string): string | null;
    getAllHeaderValues(key: string): string[];
    /** @deprecated Always throws (calls `process.env.get`); use `config[key]`. */
    getConfig(key: string): never;
    getResponseHeader(key: string): string | null;
    setResponseHeader(key: string, ...values: string[]): void;
    addResponseHeader(key: string, ...values: string[]): void;
  }

  /**
   * Returning `undefined`/`null` (or a non-string with a non-JSON content type) crashes the process,
   * so the handler's result type excludes them.
   */
  export type HandlerResult = NonNullable<unknown>;

  export type Handler<I> = (input: I, ctx: Context) => HandlerResult | Promise<HandlerResult>;

  export function handle(fn: Handler<Buffer>, options: { inputMode: 'buffer' }): () => void;
  export function handle(fn: Handler<string>, options: { inputMode: 'string' }): () => void;
  export function handle(fn: Handler<unknown>, options?: HandleOptions): () => void;

  export function rawResult(result: string | Buffer): FnResult;
  export function streamResult(stream: Readable): FnResult;
}
