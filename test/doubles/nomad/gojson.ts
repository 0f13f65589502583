/**
 * A JSON reader that behaves like Go's json.Decoder.Decode for one value:
 * the same syntax error texts ("invalid character 'x' looking for beginning of
 * value", "unexpected EOF", "EOF"), number literals kept verbatim (so integer
 * fields can reject 1.5 or 1e3 the way Go does), object keys in order with
 * duplicates kept. Trailing data after the first value is ignored, as the
 * Decoder does.
 */

export type JNode =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'num'; raw: string }
  | { t: 'str'; v: string }
  | { t: 'arr'; items: JNode[] }
  | { t: 'obj'; entries: Array<[string, JNode]> };

export class GoJsonSyntaxError extends Error {}

/** Go's quoteChar: how a byte is shown in a syntax error. */
function quoteChar(c: string): string {
  if (c === "'") return `'\\''`;
  if (c === '"') return `'"'`;
  const code = c.charCodeAt(0);
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\\': '\\\\' };
  if (named[c]) return `'${named[c]}'`;
  if (code < 0x20 || code === 0x7f) return `'\\x${code.toString(16).padStart(2, '0')}'`;
  return `'${c}'`;
}

class Reader {
  i = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    if (this.i >= this.s.length) throw new GoJsonSyntaxError('unexpected EOF');
    throw new GoJsonSyntaxError(`invalid character ${quoteChar(this.s[this.i]!)} ${what}`);
  }

  peek(): string | undefined {
    return this.s[this.i];
  }

  skipSpace(): void {
    while (this.i < this.s.length && ' \t\n\r'.includes(this.s[this.i]!)) this.i += 1;
  }

  value(): JNode {
    this.skipSpace();
    const c = this.peek();
    if (c === undefined) this.fail('');
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return { t: 'str', v: this.string() };
    if (c === 't') return this.literal('true', { t: 'bool', v: true });
    if (c === 'f') return this.literal('false', { t: 'bool', v: false });
    if (c === 'n') return this.literal('null', { t: 'null' });
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    return this.fail('looking for beginning of value');
  }

  object(): JNode {
    this.i += 1;
    const entries: Array<[string, JNode]> = [];
    this.skipSpace();
    if (this.peek() === '}') {
      this.i += 1;
      return { t: 'obj', entries };
    }
    for (;;) {
      this.skipSpace();
      if (this.peek() !== '"') this.fail('looking for beginning of object key string');
      const key = this.string();
      this.skipSpace();
      if (this.peek() !== ':') this.fail('after object key');
      this.i += 1;
      entries.push([key, this.value()]);
      this.skipSpace();
      const c = this.peek();
      if (c === ',') {
        this.i += 1;
        continue;
      }
      if (c === '}') {
        this.i += 1;
        return { t: 'obj', entries };
      }
      this.fail('after object key:value pair');
    }
  }

  array(): JNode {
    this.i += 1;
    const items: JNode[] = [];
    this.skipSpace();
    if (this.peek() === ']') {
      this.i += 1;
      return { t: 'arr', items };
    }
    for (;;) {
      items.push(this.value());
      this.skipSpace();
      const c = this.peek();
      if (c === ',') {
        this.i += 1;
        continue;
      }
      if (c === ']') {
        this.i += 1;
        return { t: 'arr', items };
      }
      this.fail('after array element');
    }
  }

  string(): string {
    this.i += 1;
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('');
      if (c === '"') {
        this.i += 1;
        return out;
      }
      if (c === '\\') {
        this.i += 1;
        const e = this.peek();
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && simple[e] !== undefined) {
          out += simple[e];
          this.i += 1;
          continue;
        }
        if (e === 'u') {
          this.i += 1;
          let hex = '';
          for (let k = 0; k < 4; k += 1) {
            const h = this.peek();
            if (h === undefined || !/[0-9a-fA-F]/.test(h)) this.fail('in \\u hexadecimal character escape');
            hex += h;
            this.i += 1;
          }
          out += String.fromCharCode(parseInt(hex, 16));
          continue;
        }
        this.fail('in string escape code');
      }
      if (c.charCodeAt(0) < 0x20) this.fail('in string literal');
      out += c;
      this.i += 1;
    }
  }

  literal(word: string, node: JNode): JNode {
    for (let k = 0; k < word.length; k += 1) {
      if (this.peek() !== word[k]) this.fail(`in literal ${word} (expecting ${quoteChar(word[k]!)})`);
      this.i += 1;
    }
    return node;
  }

  digits(): void {
    while (this.i < this.s.length && this.s[this.i]! >= '0' && this.s[this.i]! <= '9') this.i += 1;
  }

  number(): JNode {
    const start = this.i;
    const isDigit = () => {
      const c = this.peek();
      return c !== undefined && c >= '0' && c <= '9';
    };
    if (this.peek() === '-') {
      this.i += 1;
      if (!isDigit()) this.fail('in numeric literal');
    }
    if (this.peek() === '0') this.i += 1;
    else this.digits();
    if (this.peek() === '.') {
      this.i += 1;
      if (!isDigit()) this.fail('after decimal point in numeric literal');
      this.digits();
    }
    if (this.peek() === 'e' || this.peek() === 'E') {
      this.i += 1;
      if (this.peek() === '+' || this.peek() === '-') this.i += 1;
      if (!isDigit()) this.fail('in exponent of numeric literal');
      this.digits();
    }
    return { t: 'num', raw: this.s.slice(start, this.i) };
  }
}

/** Reads the first JSON value of `text`; throws GoJsonSyntaxError with Go's message. */
export function parseGoJson(text: string): JNode {
  const reader = new Reader(text);
  reader.skipSpace();
  if (reader.peek() === undefined) throw new GoJsonSyntaxError('EOF');
  return reader.value();
}

/** The JSON kind name encoding/json uses in "cannot unmarshal X into ...". */
export function kindName(node: JNode): string {
  switch (node.t) {
    case 'null':
      return 'null';
    case 'bool':
      return 'bool';
    case 'num':
      return 'number';
    case 'str':
      return 'string';
    case 'arr':
      return 'array';
    case 'obj':
      return 'object';
  }
}

/** Plain JavaScript value of a node (numbers as float64, duplicate keys: last wins). */
export function toPlain(node: JNode): unknown {
  switch (node.t) {
    case 'null':
      return null;
    case 'bool':
      return node.v;
    case 'num':
      return Number(node.raw);
    case 'str':
      return node.v;
    case 'arr':
      return node.items.map(toPlain);
    case 'obj': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of node.entries) out[k] = toPlain(v);
      return out;
    }
  }
}
