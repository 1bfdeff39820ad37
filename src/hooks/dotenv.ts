// Rewrites keys of a dotenv file (Laravel's `.env`) as text, so that everything
// else — comments, blank lines, order, quoting style, line endings — stays byte for byte.

/** `KEY=value` lines, optionally indented or `export`ed; group 1 is everything up to and including `=`. */
function assignmentOf(key: string): RegExp {
  return new RegExp(`^([ \\t]*(?:export[ \\t]+)?${key}[ \\t]*=)(.*)$`);
}

const PLAIN_VALUE = /^[A-Za-z0-9._:[\]/-]*$/;

const ANY_DB_KEY = /^[ \t]*(?:export[ \t]+)?DB_[A-Za-z0-9_]*[ \t]*=/;

/**
 * The new value in the old value's clothes: same quotes, and an unquoted value's
 * trailing ` # comment` kept. Values are plain (host names, ports): the caller checks.
 */
function replaceValue(old: string, value: string): string {
  const leading = /^[ \t]*/.exec(old)![0];
  const rest = old.slice(leading.length);
  const quote = rest[0];
  if (quote === '"' || quote === "'") {
    const close = rest.indexOf(quote, 1);
    const after = close === -1 ? '' : rest.slice(close + 1);
    return `${leading}${quote}${value}${quote}${after}`;
  }
  const comment = /[ \t]+#.*$/.exec(rest);
  return `${leading}${value}${comment ? comment[0] : ''}`;
}

/**
 * Sets `values` in dotenv `text`. Every existing assignment of a key is rewritten in
 * place; a missing key is added after the last `DB_*` line (where Laravel keeps them),
 * or at the end. Returns the text unchanged when nothing differs.
 */
export function setDotenvValues(text: string, values: Record<string, string>): string {
  // Written as they are: a newline would add a line of its own, a quote or `#` would end the
  // value, `$` would be expanded. Host names and ports need none of them.
  for (const [key, value] of Object.entries(values)) {
    if (!PLAIN_VALUE.test(value)) throw new RangeError(`${key}: not a plain value (letters, digits and . _ : [ ] - / only)`);
  }
  // Lines with their own endings, so a CRLF file stays CRLF and a missing final newline stays missing.
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const eol = /\r\n/.test(text) ? '\r\n' : '\n';
  const split = (line: string): [string, string] => {
    const ending = /\r?\n$/.exec(line)?.[0] ?? '';
    return [line.slice(0, line.length - ending.length), ending];
  };
  const missing: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const pattern = assignmentOf(key);
    let found = false;
    for (let i = 0; i < lines.length; i++) {
      const [body, ending] = split(lines[i]!);
      const match = pattern.exec(body);
      if (!match) continue;
      found = true;
      lines[i] = `${match[1]}${replaceValue(match[2]!, value)}${ending}`;
    }
    if (!found) missing.push(`${key}=${value}`);
  }
  if (missing.length === 0) return lines.join('');
  let at = -1;
  lines.forEach((line, i) => {
    if (ANY_DB_KEY.test(split(line)[0])) at = i;
  });
  if (at === -1) at = lines.length - 1;
  // The line we insert after may be the last one, without a newline of its own.
  if (at >= 0 && split(lines[at]!)[1] === '') lines[at] += eol;
  lines.splice(at + 1, 0, ...missing.map((line) => `${line}${eol}`));
  return lines.join('');
}
