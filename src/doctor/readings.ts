/**
 * What `pinlatch doctor` reads from the host: the kernel and process settings a relay's bounds
 * depend on. Plain data, so the checks (checks.ts) are pure and tested with made-up readings;
 * read-host.ts fills it from /proc.
 */
export interface PortSpan {
  readonly min: number;
  readonly max: number;
}

export type IoUringReading = { readonly available: true } | { readonly available: false; readonly reason: string };

export interface HostReadings {
  /**
   * RLIMIT_NOFILE of a Node process started like this one (Infinity: unlimited). Node raises its
   * soft limit to the hard limit at start, so this is the hard limit of the shell or unit.
   */
  readonly openFiles: number;
  /** net.core.rmem_max: the largest SO_RCVBUF a socket may ask for. */
  readonly rmemMax: number;
  /** net.core.wmem_max: the largest SO_SNDBUF a socket may ask for. */
  readonly wmemMax: number;
  /** net.ipv4.ip_local_port_range: where the kernel picks ephemeral ports. */
  readonly ephemeralPorts: PortSpan;
  /** net.ipv4.ip_local_reserved_ports: ports the kernel never picks as ephemeral. */
  readonly reservedPorts: readonly PortSpan[];
  /** net.ipv4.ip_unprivileged_port_start: ports below it need CAP_NET_BIND_SERVICE. */
  readonly unprivilegedPortStart: number;
  /** CAP_NET_BIND_SERVICE is in this process's effective set. */
  readonly capNetBindService: boolean;
  /** Whether the relay's io_uring data path can start here (the relay tried it). */
  readonly ioUring: IoUringReading;
}
