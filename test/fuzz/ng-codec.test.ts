/** Short fuzz run of fuzz/targets/ng-codec.ts (see short-run.ts, docs/fuzzing.md). */
import { shortRun } from './short-run.ts';

shortRun('ng-codec');
