/**
 * Bytes the other end printed, shown inside a one-line message. What a remote shell, a wrapper or a
 * forced command writes is anything at all: a NUL, a terminal escape, a line break, invalid UTF-8,
 * a right-to-left override. Printed raw, such bytes hide the excerpt (`it began: ""` for output
 * starting with NUL), break the one line, or rewrite the user's terminal. So printable text stays
 * as it is and everything else is escaped where it stands: \x00 for a byte, \n \r \t, and \u202e for
 * an invisible character; the excerpt is quoted, so where it starts and ends is plain too.
 */

/** Made on first use, like `visible` below: a strict TextDecoder made at load cost every command and agent start. */
let strictDecoder: InstanceType<typeof TextDecoder> | undefined;
function decodeStrict(bytes: Uint8Array): string {
  // ignoreBOM: keep U+FEFF, which a decoder otherwise drops at the start (a shell rc file saved with a
  // BOM prints one), so that it is shown escaped instead of leaving no character at all.
  strictDecoder ??= new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  return strictDecoder.decode(bytes);
}
/**
 * Letters, marks, digits, punctuation and symbols: characters that show as themselves. Built on
 * first use: V8 expands these Unicode classes when it first evaluates the literal, about 3 ms that every
 * command would pay at start although an excerpt is only ever needed on a failure.
 */
let visible: RegExp | undefined;
function isVisible(character: string): boolean {
  visible ??= /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
  return visible.test(character);
}
const NAMED: Record<number, string> = { 9: '\\t', 10: '\\n', 13: '\\r', 34: '\\"', 92: '\\\\' };

/** Bytes in a UTF-8 sequence led by `lead` (0 for a byte that cannot lead one). */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

function hex(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

/** The one character a valid UTF-8 sequence at `at` spells, or undefined for invalid bytes. */
function characterAt(bytes: Uint8Array, at: number): string | undefined {
  const length = sequenceLength(bytes[at] as number);
  if (length === 0 || at + length > bytes.length) return undefined;
  try {
    return decodeStrict(bytes.subarray(at, at + length));
  } catch {
    return undefined;
  }
}

/**
 * `"text\x00\x01 more"`: the bytes quoted, printable characters as they are, everything else
 * escaped. Stops after about `maxChars` characters of output and then says `...` outside the quotes.
 */
export function visibleExcerpt(bytes: Uint8Array, maxChars = 80): string {
  let out = '';
  let at = 0;
  while (at < bytes.length && out.length < maxChars) {
    const byte = bytes[at] as number;
    if (byte < 0x80) {
      out += NAMED[byte] ?? (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : hex(byte));
      at++;
      continue;
    }
    const character = characterAt(bytes, at);
    if (character === undefined) {
      out += hex(byte);
      at++;
      continue;
    }
    const codePoint = character.codePointAt(0) as number;
    out += isVisible(character)
      ? character
      : codePoint > 0xffff
        ? `\\u{${codePoint.toString(16)}}`
        : `\\u${codePoint.toString(16).padStart(4, '0')}`;
    at += sequenceLength(byte);
  }
  return `"${out}"${at < bytes.length ? '...' : ''}`;
}

/** The first line of `bytes` with anything but blanks in it, without its line break; empty if none. */
export function firstNonBlankLine(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    const line = bytes.subarray(start, end > start && bytes[end - 1] === 0x0d ? end - 1 : end);
    if (line.some((byte) => byte !== 0x20 && byte !== 0x09 && byte !== 0x0d)) return line;
    start = end + 1;
  }
  return new Uint8Array(0);
}
