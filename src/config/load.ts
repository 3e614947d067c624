/** Entry points: a YAML file, YAML text, or the built-in defaults. */
import { readFile } from 'node:fs/promises';
import { isAlias, isCollection, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { buildConfig, type LineLocator } from './build.js';
import { ConfigError } from './errors.js';
import { lineOf } from './locate.js';
import { nestingIssue } from './nesting.js';
import type { PinlatchConfig } from './types.js';

/** A configuration with the way back from its key paths to the lines of its text. */
export interface LocatedConfig {
  readonly config: PinlatchConfig;
  readonly locate: LineLocator;
}

/** Parses and validates YAML text; `sourceName` labels errors (usually the file path). */
export function parseConfig(text: string, sourceName = '<text>'): PinlatchConfig {
  return parseLocatedConfig(text, sourceName).config;
}

/** parseConfig, keeping the line locator (a reload names the lines of keys that cannot change). */
export function parseLocatedConfig(text: string, sourceName = '<text>'): LocatedConfig {
  const tooDeep = nestingIssue(text);
  if (tooDeep) throw new ConfigError(sourceName, [tooDeep]);
  const lines = new LineCounter();
  // uniqueKeys (the default) makes a repeated key an error rather than a silent override.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      sourceName,
      doc.errors.map((e) => ({
        path: '',
        message: `YAML ${e.code}: ${e.message.split('\n')[0]}`,
        line: lines.linePos(e.pos[0]).line,
      })),
    );
  }
  const locate: LineLocator = (path) => lineOf(doc, lines, path);
  return { config: buildConfig(toData(doc, lines, sourceName), sourceName, locate), locate };
}

/**
 * The document's data. yaml resolves aliases only here, and throws a ReferenceError for an alias
 * whose anchor is not set before it and for aliases that expand past maxAliasCount (a "billion
 * laughs" document): both become a ConfigError at the alias's line.
 */
function toData(doc: Document, lines: LineCounter, sourceName: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    // The line of the first alias whose anchor is not set before it, else of the first alias. One
    // pass in document order (Alias.resolve searches the whole document: quadratic over a bomb).
    const anchors = new Set<string>();
    let line: number | null = null;
    visit(doc, (_, node) => {
      if (isAlias(node)) {
        const at = node.range ? lines.linePos(node.range[0]).line : null;
        if (!anchors.has(node.source)) {
          line = at;
          return visit.BREAK;
        }
        line ??= at;
      } else if ((isScalar(node) || isCollection(node)) && node.anchor) {
        anchors.add(node.anchor);
      }
      return undefined;
    });
    throw new ConfigError(sourceName, [{ path: '', message: `YAML ${err.message}`, line }], { cause: err });
  }
}

export async function loadConfigFile(path: string): Promise<PinlatchConfig> {
  return (await loadLocatedConfigFile(path)).config;
}

export async function loadLocatedConfigFile(path: string): Promise<LocatedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(path, [{ path: '', message: `cannot read the file (${reason})`, line: null }], { cause: err });
  }
  return parseLocatedConfig(text, path);
}

/**
 * The configuration used when no file is given: everything on loopback, SIP on 5060 (UDP and
 * TCP), media on 20000..20999 (below rtpengine's default range 30000..40000, so both can run on
 * one host for comparison, and below Linux's ephemeral ports 32768..60999, which outgoing
 * connections and DNS queries take — `pinlatch doctor` checks that overlap), NG on 127.0.0.1:2223 as in rtpengine's and Kamailio's examples.
 */
export function defaultConfig(): PinlatchConfig {
  return buildConfig(
    {
      sip: {
        listen: [
          { transport: 'udp', address: '127.0.0.1', port: 5060 },
          { transport: 'tcp', address: '127.0.0.1', port: 5060 },
        ],
        advertise: '127.0.0.1',
      },
      media: { address: '127.0.0.1', advertise: '127.0.0.1', ports: { min: 20000, max: 20999 } },
      ng: { address: '127.0.0.1', port: 2223 },
    },
    '<default>',
  );
}
