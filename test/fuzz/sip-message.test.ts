/** Short fuzz run of fuzz/targets/sip-message.ts (see short-run.ts, docs/fuzzing.md). */
import { shortRun } from './short-run.ts';

shortRun('sip-message');
