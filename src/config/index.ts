/** Configuration: YAML validated once at start into typed, frozen objects. */
export { parseConfig, parseLocatedConfig, loadConfigFile, loadLocatedConfigFile, defaultConfig, type LocatedConfig } from './load.js';
export { changedKeys, fixedKeyChanges, reloadRefusal, RELOADABLE_KEYS } from './reload.js';
export { buildConfig, type LineLocator } from './build.js';
export { ConfigError, formatIssue, type ConfigIssue } from './errors.js';
export { isHostName, isUnspecifiedAddress } from './address.js';
export { openRelayWarnings, type ConfigWarning } from './warnings.js';
export { parseSipUriTarget, type SipUriTarget } from './sip-uri.js';
export type * from './types.js';
