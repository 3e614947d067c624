/**
 * The C tools of the pps benchmark (bench/native/*.c -> bench/bin/). `make` rebuilds what is
 * missing or older than its sources, so calling this before every run is cheap.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const BIN_DIR = join(BENCH_DIR, 'bin');

export interface NativeTools {
  rtpload: string;
  barefwd: string;
}

export function buildNativeTools(): NativeTools {
  execFileSync('make', ['-s', '-C', BENCH_DIR], { stdio: ['ignore', 'inherit', 'inherit'] });
  return { rtpload: join(BIN_DIR, 'rtpload'), barefwd: join(BIN_DIR, 'barefwd') };
}
