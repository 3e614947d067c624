/** test/native/totals.test.ts with the ASan/UBSan build of the addon (see under-asan.ts). */
import { underAsan } from './under-asan.ts';

underAsan('totals.test.ts');
