/** test/native/relay-control.test.ts with the ASan/UBSan build of the addon (see under-asan.ts). */
import { underAsan } from './under-asan.ts';

underAsan('relay-control.test.ts');
