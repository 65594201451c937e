import { Outbox, type OutboxStore } from '../../../agent/outbox';
import { AgentState } from '../../../agent/state';
import { isPermanentReportFailure, ReportRejectedError, ReportTransientError } from '../../../agent/reporter';
import { FakeTimers, flush, MemoryLogger, tempDir } from './support/helpers';

interface Payload {
  n: number;
}

function isPayload(v: unknown): v is Payload {
  return v !== null && typeof v === 'object' && typeof (v as Payload).n === 'number';
}

/** A sender whose answers the test scripts: each call takes the next outcome ('ok' when none is left). */
class ScriptedSender {
  readonly delivered: number[] = [];
  readonly attempts: number[] = [];
  readonly outcomes: Array<'ok' | Error> = [];

  send = async (payload: Payload): Promise<void> => {
    this.attempts.push(payload.n);
    const outcome = this.outcomes.shift() ?? 'ok';
    if (outcome !== 'ok') throw outcome;
    this.delivered.push(payload.n);
  };
}

const states: AgentState[] = [];

afterEach(() => {
  for (const state of states.splice(0)) state.close();
});

/** The outbox store of the agent state in `dir` (as the agent keeps it). */
function storeIn(dir: string): OutboxStore {
  const state = new AgentState(dir, { clock: { nowMs: () => 1 }, newSessionId: () => 'agent-x' });
  states.push(state);
  return state.outboxStore();
}

function makeOutbox(dir: string, sender: ScriptedSender, timers: FakeTimers, store = storeIn(dir), log?: MemoryLogger): Outbox<Payload> {
  return new Outbox<Payload>({
    store,
    ...(log ? { log } : {}),
    send: sender.send,
    isPermanentFailure: isPermanentReportFailure,
    isPayload,
    timers,
    random: () => 0.5,
    backoff: { baseMs: 1000, maxMs: 8000 },
  });
}

const unavailable = (): Error => new ReportTransientError('HTTP 503', 503, 'ServiceUnavailable');

describe('Outbox', () => {
  it('delivers reports in the order they were queued and removes them from its store', async () => {
    const store = storeIn(tempDir());
    const sender = new ScriptedSender();
    const outbox = makeOutbox('', sender, new FakeTimers(), store);
    outbox.start();
    const settled = [outbox.enqueue({ n: 1 }), outbox.enqueue({ n: 2 }), outbox.enqueue({ n: 3 })];
    expect(store.load().map((e) => e.payload)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await Promise.all(settled);
    expect(sender.delivered).toEqual([1, 2, 3]);
    expect(store.load()).toEqual([]);
  });

  it('retries transient failures with capped exponential backoff, keeping later reports behind', async () => {
    const dir = tempDir();
    const timers = new FakeTimers();
    const sender = new ScriptedSender();
    sender.outcomes.push(unavailable(), unavailable(), unavailable(), unavailable(), unavailable());
    const outbox = makeOutbox(dir, sender, timers);
    outbox.start();
    void outbox.enqueue({ n: 1 });
    void outbox.enqueue({ n: 2 });
    await flush();
    // equal jitter with random 0.5: 3/4 of min(8000, 1000 * 2^attempt)
    const expectedDelays = [750, 1500, 3000, 6000, 6000];
    for (const delayMs of expectedDelays) {
      expect(timers.scheduled).toEqual([delayMs]);
      expect(sender.delivered).toEqual([]);
      await timers.advance(delayMs);
    }
    expect(sender.attempts).toEqual([1, 1, 1, 1, 1, 1, 2]);
    expect(sender.delivered).toEqual([1, 2]);
  });

  it('drops a report that gets a permanent answer and goes on with the next', async () => {
    const sender = new ScriptedSender();
    sender.outcomes.push(new ReportRejectedError(404, 'NotAuthorizedOrNotFound', 'gone'), new ReportRejectedError(409, 'Conflict', 'no'));
    const outbox = makeOutbox(tempDir(), sender, new FakeTimers());
    outbox.start();
    await Promise.all([outbox.enqueue({ n: 1 }), outbox.enqueue({ n: 2 }), outbox.enqueue({ n: 3 })]);
    expect(sender.attempts).toEqual([1, 2, 3]);
    expect(sender.delivered).toEqual([3]);
    expect(outbox.size).toBe(0);
  });

  it('survives a restart: undelivered reports are sent by the next outbox on the same directory, in order', async () => {
    const dir = tempDir();
    const timers = new FakeTimers();
    const first = new ScriptedSender();
    first.outcomes.push(unavailable());
    const before = makeOutbox(dir, first, timers);
    before.start();
    void before.enqueue({ n: 1 });
    void before.enqueue({ n: 2 });
    await flush();
    await before.stop();
    expect(first.delivered).toEqual([]);
    // The agent that owned it stopped: its state is closed.
    for (const state of states.splice(0)) state.close();

    const second = new ScriptedSender();
    const after = makeOutbox(dir, second, new FakeTimers());
    expect(after.size).toBe(2);
    after.start();
    await after.enqueue({ n: 3 });
    expect(second.delivered).toEqual([1, 2, 3]);
  });

  it('sets a stored report that is not a payload aside instead of failing, and carries on', async () => {
    const store = storeIn(tempDir());
    store.add(1, { n: 1 });
    store.add(2, 'not a payload');
    const log = new MemoryLogger();
    const sender = new ScriptedSender();
    const outbox = makeOutbox('', sender, new FakeTimers(), store, log);
    expect(outbox.size).toBe(1);
    expect(log.messages()).toContain('moved a corrupt outbox report aside');
    expect(store.load().map((e) => e.seq)).toEqual([1]);
    outbox.start();
    await outbox.enqueue({ n: 3 });
    expect(sender.delivered).toEqual([1, 3]);
  });

  it('whenEmpty resolves false after its timeout while reports are stuck', async () => {
    const timers = new FakeTimers();
    const sender = new ScriptedSender();
    sender.outcomes.push(unavailable());
    const outbox = makeOutbox(tempDir(), sender, timers);
    outbox.start();
    void outbox.enqueue({ n: 1 });
    const empty = outbox.whenEmpty(100);
    await timers.advance(100);
    await expect(empty).resolves.toBe(false);
    await outbox.stop();
  });
});
