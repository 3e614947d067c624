/**
 * Header parameters: `*( SEMI generic-param )`, generic-param = token [ EQUAL gen-value ],
 * gen-value = token / host / quoted-string (RFC 3261 §25.1). SEMI and EQUAL allow LWS around
 * them (RFC 4475 §3.1.1.1 wsinv: `;\r\n  tag = 98asjd8`).
 *
 * Names match case-insensitively (§7.3.1) but keep their spelling and order; values are kept as
 * written (a quoted value keeps its quotes), so formatting a parsed list reproduces its meaning
 * exactly. Parameter lists with an empty element (`;;`) are invalid (RFC 4475 §3.1.2.1).
 */
import { isTokenCode, quotedStringEnd, skipWsp, tokenEnd } from './syntax.js';

/** A parameter value: a string, or null for a parameter without `=value` (`;lr`, `;rport`). */
export type ParamValue = string | null;

export class Params implements Iterable<[string, ParamValue]> {
  readonly #entries: Array<[string, ParamValue]> = [];

  /** Copies the entries (each pair too: `set` changes a pair in place). */
  constructor(entries: Iterable<[string, ParamValue]> = []) {
    for (const [name, value] of entries) this.#entries.push([name, value]);
  }

  /** Takes over freshly built pairs without copying them (the parameter readers' result). */
  static adopt(entries: Array<[string, ParamValue]>): Params {
    const params = new Params();
    for (let i = 0; i < entries.length; i++) params.#entries.push(entries[i]!);
    return params;
  }

  #indexOf(name: string): number {
    // Only names of the same length are lowercased to compare: most lookups (`branch`, `tag`,
    // `lr`) then compare a few strings and allocate nothing.
    let lower: string | undefined;
    for (let i = 0; i < this.#entries.length; i++) {
      const entry = this.#entries[i]![0];
      if (entry === name) return i;
      if (entry.length !== name.length) continue;
      lower ??= name.toLowerCase();
      if (entry.toLowerCase() === lower) return i;
    }
    return -1;
  }

  /** The value (null when valueless), or undefined when the parameter is absent. */
  get(name: string): ParamValue | undefined {
    const i = this.#indexOf(name);
    return i === -1 ? undefined : this.#entries[i]![1];
  }

  has(name: string): boolean {
    return this.#indexOf(name) !== -1;
  }

  /** Replaces the first parameter of that name in place, or appends it. */
  set(name: string, value: ParamValue): this {
    const i = this.#indexOf(name);
    if (i === -1) this.#entries.push([name, value]);
    else this.#entries[i]![1] = value;
    return this;
  }

  /** Removes every parameter of that name; true when one was present. */
  delete(name: string): boolean {
    const lower = name.toLowerCase();
    const before = this.#entries.length;
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      if (this.#entries[i]![0].toLowerCase() === lower) this.#entries.splice(i, 1);
    }
    return this.#entries.length !== before;
  }

  get size(): number {
    return this.#entries.length;
  }

  [Symbol.iterator](): Iterator<[string, ParamValue]> {
    return this.#entries[Symbol.iterator]();
  }

  clone(): Params {
    return new Params(this.#entries);
  }

  /** `;name=value;flag` (empty string when there are none). */
  toString(): string {
    let out = '';
    for (const [name, value] of this.#entries) out += value === null ? `;${name}` : `;${name}=${value}`;
    return out;
  }
}

/**
 * Reads `*( SEMI generic-param )` in text[start, end) (LWS before the first `;` allowed), adding
 * each parameter to `entries` when given (null: only check the grammar, allocating nothing).
 * Stops before the first character that cannot continue the list (`,` or `end`) and returns
 * its index; returns a detail string instead when the list is malformed.
 */
export function readParams(text: string, start: number, end: number, entries: Array<[string, ParamValue]> | null): number | string {
  let i = start;
  for (;;) {
    const beforeSemi = skipWsp(text, i, end);
    if (beforeSemi >= end || text.charCodeAt(beforeSemi) !== 0x3b) return beforeSemi;
    i = skipWsp(text, beforeSemi + 1, end);
    const nameEnd = tokenEnd(text, i, end);
    if (nameEnd === i) return i >= end || text.charCodeAt(i) === 0x3b ? 'empty parameter' : `unexpected "${text[i]}" in parameters`;
    const nameStart = i;
    i = skipWsp(text, nameEnd, end);
    if (i < end && text.charCodeAt(i) === 0x3d) {
      i = skipWsp(text, i + 1, end);
      const valueStart = i;
      if (i < end && text.charCodeAt(i) === 0x22) {
        i = quotedStringEnd(text, i, end);
        if (i === -1) return `unterminated quoted value of parameter ${text.slice(nameStart, nameEnd)}`;
      } else {
        i = genValueEnd(text, i, end);
        if (i === valueStart) return `parameter ${text.slice(nameStart, nameEnd)} has an empty value`;
      }
      entries?.push([text.slice(nameStart, nameEnd), text.slice(valueStart, i)]);
    } else {
      entries?.push([text.slice(nameStart, nameEnd), null]);
    }
    const next = skipWsp(text, i, end);
    if (next < end && text.charCodeAt(next) !== 0x3b && text.charCodeAt(next) !== 0x2c) {
      return `unexpected "${text[next]}" after parameter ${text.slice(nameStart, nameEnd)}`;
    }
  }
}

/** End of a token / host value: token characters plus ":" "[" "]" for IPv6 references. */
function genValueEnd(text: string, i: number, end: number): number {
  while (i < end) {
    const code = text.charCodeAt(i);
    if (!isTokenCode(code) && code !== 0x3a && code !== 0x5b && code !== 0x5d) break;
    i++;
  }
  return i;
}
