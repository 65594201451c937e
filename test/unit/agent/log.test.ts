import fs from 'node:fs';
import path from 'node:path';
import { FileLogger, LOG_FILE_NAME } from '../../../agent/log';
import { tempDir } from './support/helpers';

const clock = { nowMs: () => Date.parse('2026-01-01T00:00:00.000Z') };

describe('FileLogger', () => {
  it('writes one JSON object per line to runcommand.log, with errors as name and message', () => {
    const dir = tempDir();
    const log = new FileLogger({ logDir: dir, clock });
    log.info('command started', { instanceAgentCommandId: 'c1', pid: 42 });
    log.error('boom', { error: Object.assign(new Error('bad'), { code: 'EIO' }) });
    log.debug('hidden below the default level');
    log.close();
    const lines = fs.readFileSync(path.join(dir, LOG_FILE_NAME), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual([
      { time: '2026-01-01T00:00:00.000Z', level: 'info', msg: 'command started', instanceAgentCommandId: 'c1', pid: 42 },
      { time: '2026-01-01T00:00:00.000Z', level: 'error', msg: 'boom', error: { name: 'Error', message: 'bad', code: 'EIO' } },
    ]);
  });

  it('rotates once past maxBytes, keeping one previous file', () => {
    const dir = tempDir();
    const log = new FileLogger({ logDir: dir, clock, maxBytes: 300 });
    for (let i = 0; i < 20; i += 1) log.info(`line ${i}`);
    log.close();
    expect(fs.readdirSync(dir).sort()).toEqual([LOG_FILE_NAME, `${LOG_FILE_NAME}.1`]);
    expect(fs.statSync(path.join(dir, LOG_FILE_NAME)).size).toBeLessThanOrEqual(300);
    expect(fs.readFileSync(path.join(dir, LOG_FILE_NAME), 'utf8')).toContain('line 19');
  });
});
