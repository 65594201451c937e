/**
 * Errors the service answers with. Each carries the OCI error code and HTTP status of spec §9, so the edge
 * (the FDK wrapper, the gateway) can map it to `{"code","message"}` without knowing the use-case.
 */
export const ErrorCodes = {
  CannotParseRequest: 400,
  InvalidParameter: 400,
  MissingParameter: 400,
  LimitExceeded: 400,
  RelatedResourceNotAuthorizedOrNotFound: 400,
  NotAuthenticated: 401,
  NotAuthorized: 403,
  NotAuthorizedOrNotFound: 404,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  IncorrectState: 409,
  InvalidatedRetryToken: 409,
  NoEtagMatch: 412,
  PayloadTooLarge: 413,
  TooManyRequests: 429,
  InternalServerError: 500,
  ServiceUnavailable: 503,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class ServiceError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ServiceError';
    this.status = ErrorCodes[code];
  }

  toBody(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export const NOT_AUTHORIZED_OR_NOT_FOUND_MESSAGE = 'Authorization failed or requested resource not found.';

export function notAuthorizedOrNotFound(): ServiceError {
  return new ServiceError('NotAuthorizedOrNotFound', NOT_AUTHORIZED_OR_NOT_FOUND_MESSAGE);
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof ServiceError;
}
