/** Short fuzz run of fuzz/targets/sdp-anchor.ts (see short-run.ts, docs/fuzzing.md). */
import { shortRun } from './short-run.ts';

shortRun('sdp-anchor');
