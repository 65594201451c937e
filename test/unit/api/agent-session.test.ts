import { AgentSessions, InvalidSessionRequestError, newSessionRequest, openSessionGrant, type SessionGrant } from '../../../shared/api/agent-session';

const principal = { tenancyId: 'ocid1.tenancy.oc1..t', instanceId: 'ocid1.instance.oc1..i', fingerprint: 'aa:bb' };
const nowMs = Date.parse('2026-11-28T08:00:00.000Z');

function grantFor(sessions: AgentSessions): { grant: SessionGrant; privateKey: ReturnType<typeof newSessionRequest>['privateKey'] } {
  const { body, privateKey } = newSessionRequest();
  return { grant: sessions.issue(principal, body.publicKey, nowMs), privateKey };
}

describe('agent sessions', () => {
  it('hands the agent the secret the platform derives again from the token, encrypted to the agent key', () => {
    const sessions = new AgentSessions({ lifetimeMs: 60_000 });
    const { grant, privateKey } = grantFor(sessions);
    expect(grant.timeExpires).toBe('2026-11-28T08:01:00.000Z');
    // The wire carries no secret in clear.
    const opened = sessions.open(grant.sessionToken, nowMs);
    expect(opened).toMatchObject({ ...principal, expiresAtMs: nowMs + 60_000 });
    expect(JSON.stringify(grant)).not.toContain(opened?.secret.toString('base64'));
    const session = openSessionGrant(grant, privateKey);
    expect(session).toMatchObject({ token: grant.sessionToken, expiresAtMs: nowMs + 60_000 });
    expect(session.secret.equals(opened?.secret as Buffer)).toBe(true);
    expect(session.secret).toHaveLength(32);
  });

  it('opens a token until its expiry only, and never one that was changed or made with another key', () => {
    const sessions = new AgentSessions({ lifetimeMs: 60_000 });
    const { grant } = grantFor(sessions);
    const token = grant.sessionToken;
    expect(sessions.open(token, nowMs + 59_999)).toBeDefined();
    expect(sessions.open(token, nowMs + 60_000)).toBeUndefined();
    const [version, payload, mac] = token.split('.') as [string, string, string];
    const longer = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), e: nowMs + 10 ** 9 })).toString('base64url');
    expect(sessions.open(`${version}.${longer}.${mac}`, nowMs)).toBeUndefined();
    expect(sessions.open(`${version}.${payload}.${mac.slice(0, -2)}AA`, nowMs)).toBeUndefined();
    expect(new AgentSessions().open(token, nowMs)).toBeUndefined();
    for (const malformed of ['', 'v1', 'v1.a', `v2.${payload}.${mac}`, `${token}.x`, `v1.${'a'.repeat(3000)}.b`]) {
      expect(sessions.open(malformed, nowMs)).toBeUndefined();
    }
  });

  it('issues the same principal a different token and secret each time, even in the same millisecond', () => {
    const sessions = new AgentSessions();
    const one = grantFor(sessions).grant.sessionToken;
    const two = grantFor(sessions).grant.sessionToken;
    expect(one).not.toBe(two);
    expect(sessions.open(one, nowMs)?.secret.equals(sessions.open(two, nowMs)?.secret as Buffer)).toBe(false);
  });

  it('refuses agent public keys that are not X25519 keys, or are small-order points', () => {
    const sessions = new AgentSessions();
    for (const bad of ['', 'not a key', Buffer.alloc(31).toString('base64url'), Buffer.alloc(32).toString('base64')]) {
      expect(() => sessions.issue(principal, bad, nowMs)).toThrow(InvalidSessionRequestError);
    }
    // The all-zero point makes the shared secret all zeros.
    expect(() => sessions.issue(principal, Buffer.alloc(32).toString('base64url'), nowMs)).toThrow(InvalidSessionRequestError);
  });

  it('the agent cannot open a grant meant for another key, a changed one, or a malformed one', () => {
    const sessions = new AgentSessions();
    const { grant, privateKey } = grantFor(sessions);
    expect(() => openSessionGrant(grant, newSessionRequest().privateKey)).toThrow(/could not be decrypted/);
    const sealed = Buffer.from(grant.encryptedSecret, 'base64');
    sealed[20] = (sealed[20] as number) ^ 1;
    expect(() => openSessionGrant({ ...grant, encryptedSecret: sealed.toString('base64') }, privateKey)).toThrow(/could not be decrypted/);
    expect(openSessionGrant(grant, privateKey).token).toBe(grant.sessionToken);
    expect(() => openSessionGrant({ ...grant, timeExpires: 'soon' }, privateKey)).toThrow(/timeExpires/);
    expect(() => openSessionGrant({ ...grant, encryptedSecret: 'AAAA' }, privateKey)).toThrow(/malformed encryptedSecret/);
    expect(() => openSessionGrant({ sessionToken: 'x' }, privateKey)).toThrow(/lacks/);
    expect(() => openSessionGrant(null, privateKey)).toThrow(/lacks/);
  });

  it('binds the secret to its token: the same sealed secret under another token does not open', () => {
    const sessions = new AgentSessions();
    const { body, privateKey } = newSessionRequest();
    const one = sessions.issue(principal, body.publicKey, nowMs);
    const two = sessions.issue(principal, body.publicKey, nowMs + 1);
    expect(() => openSessionGrant({ ...one, sessionToken: two.sessionToken }, privateKey)).toThrow(/could not be decrypted/);
    expect(openSessionGrant(two, privateKey).token).toBe(two.sessionToken);
  });
});
