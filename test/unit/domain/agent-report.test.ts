import { parseAgentReport } from '../../../shared/domain/agent-report';

describe('parseAgentReport', () => {
  const base = { callbackId: 'cb-1', agentSessionId: 'agent-1', instanceAgentCommandId: 'ocid1.instanceagentcommand.oc1..c', event: { type: 'ACK' } };

  it('keeps the sequence number when given, and accepts a report without one', () => {
    expect(parseAgentReport({ ...base, sequence: 42 })).toEqual({ ...base, sequence: 42 });
    expect(parseAgentReport(base)).toEqual(base);
  });

  it('refuses a sequence that is not a non-negative integer', () => {
    for (const sequence of [-1, 1.5, '7', Number.MAX_SAFE_INTEGER + 2]) {
      expect(() => parseAgentReport({ ...base, sequence })).toThrow(/sequence/);
    }
  });

  it('refuses SUCCEEDED with a non-zero exit code and names unknown event types', () => {
    expect(() => parseAgentReport({ ...base, event: { type: 'FINISH', outcome: 'SUCCEEDED', exitCode: 1 } })).toThrow(/exitCode must be 0/);
    expect(() => parseAgentReport({ ...base, event: { type: 'NAP' } })).toThrow(/event.type/);
  });
});
