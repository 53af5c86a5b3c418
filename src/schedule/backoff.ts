/**
 * When the daemon runs next. After a success: the interval, with jitter so that several machines
 * started together (or a fleet of phones) do not all knock at the same minute. After failures: a
 * capped exponential backoff that starts short and doubles per consecutive failure, capped at the
 * interval itself. Starting short is deliberate: the usual failure is a phone that was asleep or off
 * the network, and retrying a minute later catches it as soon as it wakes; the cap keeps a failing
 * peer from being tried less often than a healthy one, and doubling keeps a persistent failure (a
 * corrupt file, a revoked key) from filling the log. A success resets the count.
 */

export interface BackoffPolicy {
  /** The normal time between runs. */
  intervalMs: number;
  /** The wait after the first failure; it doubles per further failure, up to intervalMs. */
  retryMs: number;
  /** Relative spread, e.g. 0.1 for +-10%. */
  jitter: number;
}

export const DEFAULT_JITTER = 0.1;
export const DEFAULT_RETRY_MS = 60_000;

export function defaultPolicy(intervalMs: number, retryMs: number = Math.min(DEFAULT_RETRY_MS, intervalMs)): BackoffPolicy {
  return { intervalMs, retryMs: Math.min(retryMs, intervalMs), jitter: DEFAULT_JITTER };
}

/** The delay before the next run, given how many runs in a row have failed (0 after a success). */
export function baseDelay(policy: BackoffPolicy, consecutiveFailures: number): number {
  if (consecutiveFailures <= 0) return policy.intervalMs;
  // 2 ** 40 already overflows any sane interval; clamping the exponent keeps the result finite.
  const factor = 2 ** Math.min(consecutiveFailures - 1, 40);
  return Math.min(policy.intervalMs, policy.retryMs * factor);
}

/** baseDelay spread by +-jitter; `random` returns [0, 1) like Math.random (injected in tests). */
export function nextDelay(policy: BackoffPolicy, consecutiveFailures: number, random: () => number = Math.random): number {
  const base = baseDelay(policy, consecutiveFailures);
  const spread = (random() * 2 - 1) * policy.jitter;
  return Math.max(0, Math.round(base * (1 + spread)));
}
