/**
 * A bound on how deeply a configuration document nests, checked before yaml parses it.
 *
 * yaml's parser and its toJS recurse once per nesting level. A document nested a few thousand
 * levels deep (`a: a: a: ...` on one line is enough, some 20 KB) overflows the stack there: a bare
 * RangeError, or, when V8 happens to compile a regular expression at that depth, a fatal
 * out-of-memory abort that no handler can catch. The lexer is iterative, so its tokens are
 * counted instead: no level can open without an indentation column, a block indicator (`-`, `?`,
 * `:`) or a flow bracket, so their sum on a line bounds the depth reached there. A pinlatch
 * configuration needs about 6; the bound leaves room for any hand-written layout.
 */
import { CST, Lexer } from 'yaml';
import type { ConfigIssue } from './errors.js';

/** Deepest nesting bound accepted (indentation columns + block indicators + open flow brackets). */
export const MAX_CONFIG_NESTING = 128;

/** The issue for the first line past the bound, or null when the text stays within it. */
export function nestingIssue(text: string): ConfigIssue | null {
  let line = 1;
  let indent = 0;
  let indicators = 0;
  let flow = 0;
  let lineStart = true;
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    if (type === 'newline') {
      line += 1;
      indent = 0;
      indicators = 0;
      lineStart = true;
      continue;
    }
    if (type === 'space' && lineStart) indent = token.length;
    else if (type === 'seq-item-ind' || type === 'explicit-key-ind' || type === 'map-value-ind') indicators += 1;
    else if (type === 'flow-map-start' || type === 'flow-seq-start') flow += 1;
    else if ((type === 'flow-map-end' || type === 'flow-seq-end') && flow > 0) flow -= 1;
    // Scalars (block scalars, multi-line quoted strings) carry their own line breaks.
    for (let i = token.indexOf('\n'); i !== -1; i = token.indexOf('\n', i + 1)) line += 1;
    if (type !== 'space') lineStart = false;
    if (indent + indicators + flow > MAX_CONFIG_NESTING) {
      return { path: '', message: `YAML nested deeper than ${MAX_CONFIG_NESTING} levels`, line };
    }
  }
  return null;
}
