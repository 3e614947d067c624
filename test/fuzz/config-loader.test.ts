/** Short fuzz run of fuzz/targets/config-loader.ts (see short-run.ts, docs/fuzzing.md). */
import { shortRun } from './short-run.ts';

shortRun('config-loader');
