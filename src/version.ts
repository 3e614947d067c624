import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function readVersion(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(path) as { name?: string; version?: string };
      if (pkg.name === 'pinlatch' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next layout (source tree vs dist/)
    }
  }
  return '0.0.0';
}

/** The package version, from package.json (works from src/ under tsx and from dist/src/). */
export const VERSION = readVersion();
