/**
 * One doctor check's result, how it prints (one line, with the fix on the same line so that a
 * pasted report is self-explaining), and the exit code of a whole report: the code of the kind of
 * problem found, like `sync`, so scripts can tell "phone unreachable" (6) from "database broken" (4).
 */
import { ExitCode, asSyncError, exitCodeOf, type ErrorCode } from '../core/errors.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** e.g. "database", "ssh", "clock skew". */
  check: string;
  /** The peer the check is about, if any. */
  peer?: string;
  status: CheckStatus;
  detail: string;
  hint?: string;
  /** For failures: the stable error code and its exit code. */
  code?: string;
  exitCode?: number;
}

export function ok(check: string, detail: string, peer?: string): CheckResult {
  return withPeer({ check, status: 'ok', detail }, peer);
}

export function warn(check: string, detail: string, hint: string | undefined, peer?: string): CheckResult {
  return withPeer({ check, status: 'warn', detail, ...(hint === undefined ? {} : { hint }) }, peer);
}

export function skip(check: string, detail: string, peer?: string): CheckResult {
  return withPeer({ check, status: 'skip', detail }, peer);
}

/** A failure from an error: its message is the detail (messages already say what to do). */
export function failFrom(check: string, thrown: unknown, peer?: string, hint?: string): CheckResult {
  const error = asSyncError(thrown);
  return fail(check, error.message, hint, error.code, peer);
}

/** `code` is an errors.ts code, or a code with its own exit code for problems errors.ts has no code for yet. */
export function fail(
  check: string,
  detail: string,
  hint: string | undefined,
  code: ErrorCode | { code: string; exitCode: number },
  peer?: string,
): CheckResult {
  const { code: name, exitCode } = typeof code === 'string' ? { code, exitCode: exitCodeOf(code) } : code;
  return withPeer({ check, status: 'fail', detail, ...(hint === undefined ? {} : { hint }), code: name, exitCode }, peer);
}

function withPeer(result: CheckResult, peer: string | undefined): CheckResult {
  return peer === undefined ? result : { ...result, peer };
}

const LABEL: Record<CheckStatus, string> = { ok: 'ok', warn: 'warn', fail: 'FAIL', skip: 'skip' };

export function formatCheck(result: CheckResult): string {
  const subject = result.peer === undefined ? result.check : `${result.peer}: ${result.check}`;
  const code = result.code === undefined ? '' : ` [${result.code}]`;
  const hint = result.hint === undefined ? '' : ` — fix: ${result.hint}`;
  return `${LABEL[result.status].padEnd(4)}  ${subject}: ${result.detail}${code}${hint}`;
}

export function summaryLine(results: CheckResult[]): string {
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  if (failed === 0 && warned === 0) return 'all checks passed';
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [failed ? plural(failed, 'problem') : '', warned ? plural(warned, 'warning') : ''].filter(Boolean).join(', ');
}

/** 0 without failures; the failures' exit code when they agree; otherwise 8 (partial). */
export function reportExitCode(results: CheckResult[]): number {
  const codes = new Set(results.flatMap((r) => (r.status === 'fail' && r.exitCode !== undefined ? [r.exitCode] : [])));
  if (codes.size === 0) return ExitCode.ok;
  return codes.size === 1 ? ([...codes][0] ?? ExitCode.partial) : ExitCode.partial;
}
