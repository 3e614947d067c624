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
  /**
   * name, value, name, value, ... in order: one array for all of them rather than a pair per
   * parameter (a Via read from a message has three or four, and the proxy reads a dozen Vias, URIs
   * and name-addrs per call).
   */
  #flat: Array<string | null> = [];

  /** Copies the entries. */
  constructor(entries?: Iterable<[string, ParamValue]>) {
    if (entries !== undefined) for (const [name, value] of entries) this.#flat.push(name, value);
  }

  /** Takes over a reader's list (name, value, name, value, ...) without copying it. */
  static adopt(flat: Array<string | null>): Params {
    const params = new Params();
    params.#flat = flat;
    return params;
  }

  /** Index of the name in #flat, or -1. */
  #indexOf(name: string): number {
    // Only names of the same length are lowercased to compare: most lookups (`branch`, `tag`,
    // `lr`) then compare a few strings and allocate nothing.
    let lower: string | undefined;
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) {
      const entry = flat[i]!;
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
    return i === -1 ? undefined : (this.#flat[i + 1] as ParamValue);
  }

  has(name: string): boolean {
    return this.#indexOf(name) !== -1;
  }

  /** Replaces the first parameter of that name in place, or appends it. */
  set(name: string, value: ParamValue): this {
    const i = this.#indexOf(name);
    if (i === -1) this.#flat.push(name, value);
    else this.#flat[i + 1] = value;
    return this;
  }

  /** Removes every parameter of that name; true when one was present. */
  delete(name: string): boolean {
    const lower = name.toLowerCase();
    const flat = this.#flat;
    const before = flat.length;
    for (let i = flat.length - 2; i >= 0; i -= 2) {
      if (flat[i]!.toLowerCase() === lower) flat.splice(i, 2);
    }
    return flat.length !== before;
  }

  get size(): number {
    return this.#flat.length / 2;
  }

  *[Symbol.iterator](): Iterator<[string, ParamValue]> {
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) yield [flat[i]!, flat[i + 1] as ParamValue];
  }

  clone(): Params {
    return Params.adopt(this.#flat.slice());
  }

  /** `;name=value;flag` (empty string when there are none). */
  toString(): string {
    let out = '';
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) {
      const value = flat[i + 1];
      out += value === null ? `;${flat[i]}` : `;${flat[i]}=${value}`;
    }
    return out;
  }
}

/**
 * Reads `*( SEMI generic-param )` in text[start, end) (LWS before the first `;` allowed; `codes`
 * as in syntax.ts), adding each parameter's name and value to `out` when given (Params.adopt's
 * list; null: only check the grammar, allocating nothing).
 * Stops before the first character that cannot continue the list (`,` or `end`) and returns
 * its index; returns a detail string instead when the list is malformed.
 */
export function readParams(text: string, codes: Uint8Array, start: number, end: number, out: Array<string | null> | null): number | string {
  let i = start;
  for (;;) {
    const beforeSemi = skipWsp(codes, i, end);
    if (beforeSemi >= end || codes[beforeSemi] !== 0x3b) return beforeSemi;
    i = skipWsp(codes, beforeSemi + 1, end);
    const nameEnd = tokenEnd(codes, i, end);
    if (nameEnd === i) return i >= end || codes[i] === 0x3b ? 'empty parameter' : `unexpected "${text[i]}" in parameters`;
    const nameStart = i;
    i = skipWsp(codes, nameEnd, end);
    if (i < end && codes[i] === 0x3d) {
      i = skipWsp(codes, i + 1, end);
      const valueStart = i;
      if (i < end && codes[i] === 0x22) {
        i = quotedStringEnd(codes, i, end);
        if (i === -1) return `unterminated quoted value of parameter ${text.slice(nameStart, nameEnd)}`;
      } else {
        i = genValueEnd(codes, i, end);
        if (i === valueStart) return `parameter ${text.slice(nameStart, nameEnd)} has an empty value`;
      }
      out?.push(text.slice(nameStart, nameEnd), text.slice(valueStart, i));
    } else {
      out?.push(text.slice(nameStart, nameEnd), null);
    }
    const next = skipWsp(codes, i, end);
    if (next < end && codes[next] !== 0x3b && codes[next] !== 0x2c) {
      return `unexpected "${text[next]}" after parameter ${text.slice(nameStart, nameEnd)}`;
    }
  }
}

/** End of a token / host value: token characters plus ":" "[" "]" for IPv6 references. */
function genValueEnd(codes: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const code = codes[i]!;
    if (!isTokenCode(code) && code !== 0x3a && code !== 0x5b && code !== 0x5d) break;
    i++;
  }
  return i;
}
