/** Configuration errors: every problem found in one load, each naming its key path and line. */

export interface ConfigIssue {
  /** Key path in the document, e.g. `trunks[0].port` (empty for the document root). */
  readonly path: string;
  /** What is wrong, e.g. `expected an integer 1..65535`. */
  readonly message: string;
  /** 1-based line in the source document, or null when there is no document (object input). */
  readonly line: number | null;
}

/** Formats one issue the way it is printed: `trunks[0].port: expected ... (line 12)`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.path === '' ? '(root)' : issue.path;
  return issue.line === null ? `${where}: ${issue.message}` : `${where}: ${issue.message} (line ${issue.line})`;
}

export class ConfigError extends Error {
  readonly code = 'ERR_PINLATCH_CONFIG' as const;
  /** Name of the source (file path, or a label such as `<default>`). */
  readonly source: string;
  readonly issues: readonly ConfigIssue[];

  /** `heading` replaces the first line's `invalid configuration SOURCE` (e.g. for a refused reload). */
  constructor(source: string, issues: readonly ConfigIssue[], options?: { cause?: unknown; heading?: string }) {
    const lines = issues.map((i) => `  ${formatIssue(i)}`).join('\n');
    const noun = issues.length === 1 ? 'error' : 'errors';
    super(`${options?.heading ?? `invalid configuration ${source}`}: ${issues.length} ${noun}\n${lines}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConfigError';
    this.source = source;
    this.issues = Object.freeze([...issues]);
  }
}
