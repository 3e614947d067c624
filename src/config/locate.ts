/**
 * Maps a key path of the parsed YAML back to its line in the source text, so that every error
 * can say where to look. When the path ends at a key that is missing, the line of the deepest
 * node that exists (the mapping that should hold it) is used.
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { KeyPath } from './cross-checks.js';

function startLine(node: Node | null | undefined, lines: LineCounter): number | null {
  const offset = node?.range?.[0];
  return offset === undefined ? null : lines.linePos(offset).line;
}

export function lineOf(doc: Document, lines: LineCounter, path: KeyPath): number {
  let node: unknown = doc.contents;
  // An empty document (blank lines, comments only) has no node: its keys are missing from line 1.
  let line = startLine(doc.contents as Node | null, lines) ?? 1;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
      if (!pair) break;
      line = startLine(pair.key as Node, lines) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      line = startLine(item as Node, lines) ?? line;
      node = item;
    } else {
      break;
    }
  }
  return line;
}
