/**
 * Which restricted-latching rule (docs/latching.md) a SIP peer's media legs get: its trunk's
 * `trunks[].latching`, or `media.latching.endpoints` for every peer that is not a trunk. The
 * objects are built once, so the media plane validates each only once.
 */
import type { PinlatchConfig } from '../../config/index.js';
import type { LatchRestriction } from '../../media/api.js';

export class LatchRestrictions {
  readonly #byTrunk: ReadonlyMap<string, LatchRestriction>;
  readonly #endpoints: LatchRestriction;

  constructor(config: PinlatchConfig) {
    this.#byTrunk = new Map(config.trunks.map((t) => [t.name, Object.freeze({ ...t.latching, origin: `trunks[${t.name}].latching` })]));
    this.#endpoints = Object.freeze({ ...config.media.latching.endpoints, origin: 'media.latching.endpoints' });
  }

  /** The rule for a dialog side: `trunk` is its trunk's name, or null for any other peer. */
  of(trunk: string | null): LatchRestriction {
    return (trunk === null ? undefined : this.#byTrunk.get(trunk)) ?? this.#endpoints;
  }
}
