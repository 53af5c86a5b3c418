/**
 * Time marks for finding where a short sync's time goes. With RESONANCE_SYNC_TRACE=1 in its
 * environment, each process (the command here, and an agent on the far side if its environment has it
 * too, e.g. through remote_command = "env RESONANCE_SYNC_TRACE=1 resonance-sync") writes one line per
 * mark to stderr: `resonance-sync trace <wall-clock ms> <ms since the process started> <pid> <label>`.
 * Wall-clock times let the two ends' lines be merged when both run on one machine (the bench); the
 * first mark of a process also says when Node began (performance.timeOrigin). Without the variable a
 * mark costs one boolean test.
 */
const enabled = typeof process !== 'undefined' && process.env.RESONANCE_SYNC_TRACE === '1';
/** Set once the process's first mark is written: on globalThis, since the installed command runs two files (bin/). */
const STARTED = Symbol.for('resonance-sync.trace-started');

export function traceEnabled(): boolean {
  return enabled;
}

export function trace(label: string): void {
  if (!enabled) return;
  const marks = globalThis as { [STARTED]?: boolean };
  if (!marks[STARTED]) {
    marks[STARTED] = true;
    line(performance.timeOrigin, 0, 'node started');
  }
  const since = performance.now();
  line(performance.timeOrigin + since, since, label);
}

function line(wall: number, since: number, label: string): void {
  process.stderr.write(`resonance-sync trace ${wall.toFixed(1)} ${since.toFixed(1)} ${process.pid} ${label}\n`);
}
