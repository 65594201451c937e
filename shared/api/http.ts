/** HTTP plumbing the gateway and the functions share: OCI error bodies (spec §9), JSON replies, bounded bodies. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { ServiceError } from '../domain/errors';

/** Writes `body` as JSON; `undefined` sends no body (e.g. 204 for Cancel). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': payload.length });
  res.end(payload);
}

function payloadTooLarge(maxBytes: number): ServiceError {
  return new ServiceError('PayloadTooLarge', `The request body is larger than ${maxBytes} bytes.`);
}

/**
 * Reads the whole body, refusing (ServiceError PayloadTooLarge) once it passes `maxBytes`. The rest of an oversized
 * body is drained, not buffered, so the caller can still write its 413 reply on the same connection.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
      req.resume();
      reject(payloadTooLarge(maxBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        chunks.length = 0;
        req.resume();
        reject(payloadTooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('The request was closed before its body was read.'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const SANE_REQUEST_ID = /^[A-Za-z0-9_./:-]{1,98}$/;

/** Echoes the caller's `opc-request-id` when it is a sane token (spec §2), else makes a new one. */
export function opcRequestId(incoming: string | undefined, newId: () => string): string {
  return incoming !== undefined && SANE_REQUEST_ID.test(incoming) ? incoming : newId();
}
