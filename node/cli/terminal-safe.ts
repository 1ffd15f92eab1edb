/**
 * Text a peer chose (a refusal's reason, a field name in a bundle it sent) made safe to print as
 * part of one terminal line: a replica could otherwise write its own lines into a client's output
 * (a newline, then `key = "forged" (verified ...)`), move the cursor or clear the line (escape
 * sequences), reorder what follows (bidirectional controls), or print 100 KB of it.
 */

/** What is kept of a long text, in code points. */
export const MAX_PRINTED_CHARS = 400;

/** C0 and C1 controls, DEL, zero-width and bidirectional format characters, line and paragraph separators, BOM. */
function unprintable(code: number): boolean {
  return (
    code <= 0x1f ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x2069) ||
    code === 0xfeff
  );
}

export function terminalSafe(text: string, max = MAX_PRINTED_CHARS): string {
  const out: string[] = [];
  let more = 0;
  for (const ch of text) {
    if (out.length >= max) {
      more++;
      continue;
    }
    const code = ch.codePointAt(0)!;
    out.push(unprintable(code) ? `\\u${code.toString(16).padStart(4, '0')}` : ch);
  }
  return more === 0 ? out.join('') : `${out.join('')}... (${more} more characters)`;
}
