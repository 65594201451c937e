/** Catching the ServiceError a use-case or validator answers with, failing the test for anything else. */
import { ServiceError } from '../../shared/domain/errors';

/** The ServiceError `fn` throws. */
export function thrownServiceError(fn: () => unknown): ServiceError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ServiceError) return e;
    throw e;
  }
  throw new Error('expected a ServiceError, nothing was thrown');
}

/** The ServiceError a promise rejects with. */
export async function rejection(p: Promise<unknown>): Promise<ServiceError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof ServiceError)) throw new Error(`expected a ServiceError, got ${String(e)}`);
  return e;
}
