/** Wire constants of the Streaming data plane (API 20180418) shared by its clients and the platform's endpoint. */

/**
 * Extension header: the runcommand platform holds a GET .../messages open up to this many milliseconds when the
 * stream has nothing new. OCI Streaming ignores unknown headers and answers at once.
 */
export const LONG_POLL_HEADER = 'x-runcommand-long-poll-ms';
/** The longest wait a client asks for with `LONG_POLL_HEADER`, whatever its caller passes. */
export const MAX_LONG_POLL_MS = 20_000;
/** OCI's maximum `limit` for GetMessages. */
export const MAX_GET_LIMIT = 10_000;

/**
 * Whether an error answer means the cursor expired: OCI says 400 InvalidParameter "Cursor has expired"; the platform
 * may say `CursorExpired`.
 */
export function isCursorExpiredAnswer(statusCode: number, serviceCode: string, message: string): boolean {
  return statusCode === 400 && (serviceCode === 'CursorExpired' || /expired/i.test(message));
}
