/**
 * visibleExcerpt: whatever bytes a remote printed, the excerpt is one quoted line of visible
 * characters that spells exactly those bytes (read back here by a small parser of its escapes), so a
 * NUL, an escape sequence, invalid UTF-8 or a right-to-left override can neither vanish nor act.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { firstNonBlankLine, visibleExcerpt } from '../../src/core/excerpt.js';
import { PreambleScanner } from '../../src/protocol/framing.js';
import type { SyncError } from '../../src/core/errors.js';

/** The bytes an excerpt spells (without its `...` mark), or throws if it is not well formed. */
function bytesOf(excerpt: string): Buffer {
  const match = /^"(.*)"(\.\.\.)?$/s.exec(excerpt);
  assert.ok(match, `quoted: ${excerpt}`);
  const body = match[1] as string;
  const out: Buffer[] = [];
  const named: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' };
  for (let i = 0; i < body.length; ) {
    const char = body[i] as string;
    if (char === '"') assert.fail(`an unescaped quote inside ${excerpt}`);
    if (char !== '\\') {
      const codePoint = body.codePointAt(i) as number;
      const text = String.fromCodePoint(codePoint);
      out.push(Buffer.from(text, 'utf8'));
      i += text.length;
      continue;
    }
    const next = body[i + 1] as string;
    if (named[next] !== undefined) {
      out.push(Buffer.from(named[next] as string, 'latin1'));
      i += 2;
    } else if (next === 'x') {
      out.push(Buffer.from([parseInt(body.slice(i + 2, i + 4), 16)]));
      i += 4;
    } else if (body.startsWith('u{', i + 1)) {
      const end = body.indexOf('}', i);
      out.push(Buffer.from(String.fromCodePoint(parseInt(body.slice(i + 3, end), 16)), 'utf8'));
      i = end + 1;
    } else if (next === 'u') {
      out.push(Buffer.from(String.fromCodePoint(parseInt(body.slice(i + 2, i + 6), 16)), 'utf8'));
      i += 6;
    } else {
      assert.fail(`unknown escape in ${excerpt}`);
    }
  }
  return Buffer.concat(out);
}

test('an excerpt is one line of visible characters that spells exactly the bytes', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 60 }),
    // Valid UTF-8 of any characters: controls, marks, format characters, astral ones.
    fc
      .array(
        fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff),
        { maxLength: 30 },
      )
      .map((codePoints) => new Uint8Array(Buffer.from(String.fromCodePoint(...codePoints), 'utf8'))),
  );
  fc.assert(
    fc.property(bytes, (input) => {
      const excerpt = visibleExcerpt(input, 10_000);
      assert.ok(!/[\p{C}\p{Z}]/u.test(excerpt.replaceAll(' ', '')), `only visible characters and spaces: ${excerpt}`);
      assert.deepEqual(bytesOf(excerpt), Buffer.from(input));
    }),
    { numRuns: 2000 },
  );
});

test('named cases: NUL first, terminal escapes, invalid UTF-8, bidi override, long output', () => {
  assert.equal(visibleExcerpt(Buffer.from('\0resonance-sync agent 2 1.0.0')), '"\\x00resonance-sync agent 2 1.0.0"');
  assert.equal(visibleExcerpt(Buffer.from('\x1b[2Jhi\r\n')), '"\\x1b[2Jhi\\r\\n"');
  assert.equal(visibleExcerpt(Buffer.from([0xff, 0x41, 0xc3])), '"\\xffA\\xc3"');
  assert.equal(visibleExcerpt(Buffer.from('a\u202eb мама \u{1f600}')), '"a\\u202eb мама \u{1f600}"');
  assert.equal(visibleExcerpt(Buffer.from('"quoted" \\ path')), '"\\"quoted\\" \\\\ path"');
  assert.equal(visibleExcerpt(Buffer.alloc(100, 0)), `"${'\\x00'.repeat(20)}"...`);
  assert.equal(visibleExcerpt(new Uint8Array(0)), '""');
  // A byte order mark (EF BB BF), which a TextDecoder drops by default: found by the property above.
  assert.equal(visibleExcerpt(Buffer.from('\ufeffWelcome')), '"\\ufeffWelcome"');
});

test('firstNonBlankLine skips blank lines and drops the line break', () => {
  assert.deepEqual(Buffer.from(firstNonBlankLine(Buffer.from('\n \t\r\n\0x\r\nrest'))), Buffer.from('\0x'));
  assert.equal(firstNonBlankLine(Buffer.from('\n  \n')).length, 0);
});

test('a banner that starts with NUL is shown escaped in the agent preamble error, not as ""', () => {
  const scanner = new PreambleScanner();
  assert.throws(
    () => {
      // 100 KB, past the 64 KiB a banner may take.
      for (let i = 0; i < 100; i++) scanner.push(Buffer.from(`\0\x01garbage ${i}${' '.repeat(1000)}\n`));
    },
    (e: SyncError) => e.code === 'PROTOCOL_ERROR' && /it began: "\\x00\\x01garbage 0 +"\.\.\.$/.test(e.message),
  );
  const ended = new PreambleScanner();
  ended.push(Buffer.from('\n\n\0\x01 broken wrapper\n'));
  assert.equal(ended.junkPreview, '"\\x00\\x01 broken wrapper"');
  assert.equal(new PreambleScanner().junkPreview, '', 'nothing printed: no excerpt');
});
