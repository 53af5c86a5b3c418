/**
 * What to install when there is no cron, and whether a cron daemon is running at all. Termux is the
 * case that matters: it has no cron until `cronie` is installed, crond only starts under
 * termux-services, and Android stops background processes unless Termux:Boot starts them at boot and
 * a wake lock keeps them alive. An installed crontab with no crond running never runs anything, and
 * nothing else would say so.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Termux sets TERMUX_VERSION, and its prefix lives under com.termux. */
export function isTermux(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.TERMUX_VERSION !== undefined || (env.PREFIX ?? '').includes('com.termux');
}

export function schedulerHint(env: NodeJS.ProcessEnv = process.env, options: { short?: boolean } = {}): string {
  if (isTermux(env)) {
    return options.short
      ? 'or run `resonance-sync daemon` instead'
      : 'on Termux: pkg install cronie termux-services, restart Termux, sv-enable crond; install the Termux:Boot app with a ~/.termux/boot/ script that runs termux-wake-lock and sv up crond, so Android keeps it alive; or run `resonance-sync daemon` instead';
  }
  return options.short
    ? 'ask for it in /etc/cron.allow, or run `resonance-sync daemon` under your service manager instead'
    : 'install cron (Debian/Ubuntu: apt-get install cron; Fedora/Arch: cronie) and start it, or run `resonance-sync daemon` under your service manager instead';
}

const CRON_DAEMONS = new Set(['cron', 'crond', 'cronie', 'busybox-crond', 'fcron', 'dcron']);

/**
 * True if a cron daemon shows up in /proc, false if none does, undefined if /proc cannot tell (no
 * /proc, or a hidepid mount that shows only our own processes — Android's case for other users).
 */
export function cronDaemonRunning(procDir = '/proc'): boolean | undefined {
  let pids: string[];
  try {
    pids = readdirSync(procDir).filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let readable = 0;
  for (const pid of pids) {
    let comm: string;
    try {
      comm = readFileSync(`${procDir}/${pid}/comm`, 'utf8').trim();
    } catch {
      continue; // gone meanwhile, or hidden
    }
    readable++;
    if (CRON_DAEMONS.has(comm)) return true;
  }
  // Seeing only a handful of processes means a restricted view, where absence proves nothing.
  return readable > 3 ? false : undefined;
}

export function cronStartHint(env: NodeJS.ProcessEnv = process.env): string {
  return isTermux(env)
    ? 'start it: sv-enable crond (termux-services), and keep it alive with Termux:Boot and termux-wake-lock'
    : 'start it: systemctl enable --now cron (or crond), or service cron start';
}
