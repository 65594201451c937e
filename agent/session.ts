/**
 * The agent's session with its platform (docs/agent-protocol.md, "Sessions"; `shared/api/agent-session.ts`): it opens
 * one with a request signed by the instance key, then signs its requests to that platform with the session's secret
 * (HMAC-SHA256) instead of the key. Until a session is open, after the platform refuses one (a restart ends them all),
 * and for every other origin (OCI Streaming, OCI Object Storage), requests are signed with the key as before.
 *
 * Opening happens in the background; `sign` never waits for it. A platform without sessions (the functions behind OCI
 * API Gateway) answers 404, and the agent asks again an hour later.
 */
import { AGENT_SESSIONS_PATH, SESSION_KEY_ID_PREFIX, newSessionRequest, openSessionGrant, type AgentSession } from '../shared/api/agent-session';
import { signRequestWithSession } from '../shared/api/signature';
import { systemClock, type Clock } from '../shared/ports/clock';
import { SignedHttpClient, parseErrorBody, type RequestSigner } from './http';
import type { Logger } from './log';

/** A session this close to its expiry is not used (the platform's clock may be ahead of the agent's). */
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;
/** After a failed attempt (network, 5xx, a refused key), the next one waits this long. */
const RETRY_AFTER_FAILURE_MS = 30_000;
/** A platform that does not offer sessions is asked again after this long. */
const RETRY_AFTER_NOT_OFFERED_MS = 60 * 60 * 1000;

export interface AgentSessionSignerOptions {
  /** The platform's API endpoint: sessions are opened there and used for requests to its origin only. */
  apiEndpoint: string;
  /** Signs with the instance key: the session request itself, and whatever the session cannot sign. */
  keySigner: RequestSigner;
  log: Logger;
  clock?: Clock;
  userAgent?: string;
}

export class AgentSessionSigner {
  private readonly url: URL;
  private readonly http: SignedHttpClient;
  private readonly clock: Clock;
  private session: (AgentSession & { renewAtMs: number }) | undefined;
  private opening: Promise<void> | undefined;
  private nextAttemptAtMs = 0;
  private closed = false;

  constructor(private readonly options: AgentSessionSignerOptions) {
    this.url = new URL(AGENT_SESSIONS_PATH, `${options.apiEndpoint.replace(/\/+$/, '')}/`);
    this.clock = options.clock ?? systemClock;
    this.http = new SignedHttpClient({ sign: options.keySigner, ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}) });
  }

  /** Signs with the session when one is open and the request goes to its platform, else with the key. */
  readonly sign: RequestSigner = (req) => {
    if (req.url.origin !== this.url.origin) return this.options.keySigner(req);
    const nowMs = this.clock.nowMs();
    const session = this.session;
    if (session === undefined || session.expiresAtMs - nowMs <= EXPIRY_MARGIN_MS) {
      this.open();
      return this.options.keySigner(req);
    }
    if (nowMs >= session.renewAtMs) this.open();
    return signRequestWithSession(req, session, nowMs);
  };

  /**
   * Hears of a 401 answered to a request signed with `authorization`. When a session signed it, the session (if still
   * current) is dropped, so the next signature uses the key, and true says the request is worth sending again at once.
   */
  readonly rejected = (authorization: string): boolean => {
    if (!authorization.includes(`keyId="${SESSION_KEY_ID_PREFIX}`)) return false;
    const session = this.session;
    // A session already replaced signed it: the newer one (or the key) signs the retry.
    if (session === undefined || !authorization.includes(`keyId="${SESSION_KEY_ID_PREFIX}${session.token}"`)) return true;
    this.session = undefined;
    this.options.log.info('the platform refused the agent session; signing with the key until a new one opens');
    this.open();
    return true;
  };

  /** Whether requests to the platform are signed with a session now. */
  get active(): boolean {
    return this.session !== undefined && this.session.expiresAtMs - this.clock.nowMs() > EXPIRY_MARGIN_MS;
  }

  /** Opens (or renews) the session in the background, unless an attempt is under way or failed a moment ago. */
  open(): void {
    if (this.closed || this.opening !== undefined || this.clock.nowMs() < this.nextAttemptAtMs) return;
    this.opening = this.request().finally(() => {
      this.opening = undefined;
    });
  }

  /** Resolves once the attempt under way (if any) has ended; for tests and orderly starts. */
  async settled(): Promise<void> {
    await this.opening;
  }

  close(): void {
    this.closed = true;
    this.http.close();
  }

  private async request(): Promise<void> {
    const { body, privateKey } = newSessionRequest();
    const startedAtMs = this.clock.nowMs();
    try {
      const answer = await this.http.request('POST', this.url, { body: JSON.stringify(body) });
      if (answer.status === 200) {
        const session = openSessionGrant(JSON.parse(answer.text), privateKey);
        // Renewed once two thirds of its life have passed, well before the margin stops its use.
        const renewAtMs = startedAtMs + ((session.expiresAtMs - startedAtMs) * 2) / 3;
        this.session = { ...session, renewAtMs };
        this.nextAttemptAtMs = 0;
        this.options.log.info('agent session opened', { expires: new Date(session.expiresAtMs).toISOString() });
        return;
      }
      const { code, message } = parseErrorBody(answer.text);
      if (answer.status === 404) {
        this.nextAttemptAtMs = this.clock.nowMs() + RETRY_AFTER_NOT_OFFERED_MS;
        this.options.log.info('the platform does not offer agent sessions; every request is signed with the key', { status: 404, code });
        return;
      }
      this.nextAttemptAtMs = this.clock.nowMs() + RETRY_AFTER_FAILURE_MS;
      this.options.log.warn('could not open an agent session; signing with the key', { status: answer.status, code, message });
    } catch (err) {
      this.nextAttemptAtMs = this.clock.nowMs() + RETRY_AFTER_FAILURE_MS;
      this.options.log.warn('could not open an agent session; signing with the key', { error: err });
    }
  }
}
