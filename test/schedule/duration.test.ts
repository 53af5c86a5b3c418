import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CRON_INTERVALS,
  cronScheduleFor,
  describeCronExpression,
  describeDelay,
  formatDuration,
  parseDuration,
} from '../../src/schedule/duration.js';

test('parseDuration: whole numbers with ms, s, m, h, d', () => {
  assert.equal(parseDuration('500ms', '--x'), 500);
  assert.equal(parseDuration('10s', '--x'), 10_000);
  assert.equal(parseDuration('30m', '--x'), 1_800_000);
  assert.equal(parseDuration(' 2h ', '--x'), 7_200_000);
  assert.equal(parseDuration('1d', '--x'), 86_400_000);
  for (const bad of ['', '2', 'h', '0m', '-1h', '1.5h', '2 hours', '2H', '1w']) {
    assert.throws(
      () => parseDuration(bad, '--every'),
      (error: Error & { code?: string }) => error.code === 'USAGE' && /--every must be/.test(error.message),
      bad,
    );
  }
});

test('formatDuration and describeDelay', () => {
  assert.equal(formatDuration(7_200_000), '2h');
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(86_400_000), '1d');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(describeDelay(250), '0.25s');
  assert.equal(describeDelay(2500), '2.5s');
  assert.equal(describeDelay(65_000), '1m 5s');
  assert.equal(describeDelay(7_260_000), '2h 1m');
});

test('cronScheduleFor: the intervals cron runs evenly, on the hour for hours', () => {
  assert.deepEqual(cronScheduleFor('2h'), { expression: '0 */2 * * *', every: '2h' });
  assert.deepEqual(cronScheduleFor('30m'), { expression: '*/30 * * * *', every: '30m' });
  assert.deepEqual(cronScheduleFor('1h'), { expression: '0 * * * *', every: '1h' });
  assert.deepEqual(cronScheduleFor('60m'), { expression: '0 * * * *', every: '1h' });
  assert.deepEqual(cronScheduleFor('1m'), { expression: '* * * * *', every: '1m' });
  assert.deepEqual(cronScheduleFor('1d'), { expression: '0 0 * * *', every: '1d' });
  assert.deepEqual(cronScheduleFor('24h'), { expression: '0 0 * * *', every: '1d' });
  for (const every of CRON_INTERVALS) assert.equal(describeCronExpression(cronScheduleFor(every).expression), every);
});

test('cronScheduleFor refuses what cron cannot do evenly, and names the daemon instead', () => {
  for (const bad of ['45m', '7m', '5h', '2d', '90s', '500ms', '90m']) {
    assert.throws(
      () => cronScheduleFor(bad),
      (error: Error & { code?: string }) =>
        error.code === 'USAGE' &&
        /cron cannot run something every/.test(error.message) &&
        /resonance-sync daemon --every/.test(error.message),
      bad,
    );
  }
});
