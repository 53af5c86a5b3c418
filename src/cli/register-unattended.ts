/**
 * The commands for unattended operation, registered together so main.ts needs one line: `schedule`
 * (cron), `daemon` (a loop where there is no cron), `doctor` (is everything set up) and `log` (what
 * happened while nobody watched).
 */
import type { Command } from 'commander';
import type { ExitCodeValue } from '../core/errors.js';
import { registerDaemon } from './commands/daemon.js';
import { registerDoctor } from './commands/doctor.js';
import { registerLog } from './commands/log.js';
import { registerSchedule } from './commands/schedule.js';

export function registerUnattended(program: Command, setExitCode: (code: ExitCodeValue) => void): void {
  registerSchedule(program);
  registerDaemon(program, setExitCode);
  registerDoctor(program, setExitCode);
  registerLog(program);
}
