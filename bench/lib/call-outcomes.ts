/**
 * How the calls of one sipp caller run ended, from its own files, pure: every call is completed
 * (answered, ACKed, ended with BYE), refused (a final error response reached the caller, e.g. 503
 * with Retry-After from a relay that sheds load: the caller ACKs it and the call is over, cleanly)
 * or lost (neither: a timeout, an unexpected message, an aborted call, or a call never finished).
 *
 * sipp counts a call that takes the scenario's refused path as successful, so refused calls are
 * read from -trace_counts (the receptions of the refusing status, `<element>_<status>_Recv`) and
 * taken out of the successful ones of -trace_stat.
 */

export interface CallOutcomes {
  calls: number;
  completed: number;
  refused: number;
  lost: number;
  /** sipp's Retransmissions(C): requests the caller had to send again. */
  retransmissions: number;
}

/** The last line of a sipp CSV (`;`-separated, header first) as name → value. */
export function lastCsvRow(text: string): Map<string, string> {
  const lines = text.trim().split('\n').filter((l) => l.length > 0);
  const row = new Map<string, string>();
  if (lines.length < 2) return row;
  const header = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  header.forEach((name, i) => row.set(name, last[i] ?? ''));
  return row;
}

/** Refusals in a -trace_counts CSV: receptions of any of `statuses` on any scenario element. */
export function refusedFromCounts(countsCsv: string, statuses: readonly number[]): number {
  const wanted = new RegExp(`^\\d+_(${statuses.join('|')})_Recv$`);
  let refused = 0;
  for (const [name, value] of lastCsvRow(countsCsv)) if (wanted.test(name)) refused += Number(value) || 0;
  return refused;
}

/**
 * The outcomes of `calls` planned calls from the caller's -trace_stat CSV (null when sipp wrote
 * none: every call is lost) and its refusal count. A refused call is counted once: sipp receives
 * one final response per INVITE transaction and the scenario leaves through the refused path.
 */
export function callOutcomes(calls: number, statCsv: string | null, refused: number): CallOutcomes {
  const row = statCsv === null ? new Map<string, string>() : lastCsvRow(statCsv);
  const num = (name: string): number => {
    const v = Number(row.get(name));
    return Number.isFinite(v) ? v : 0;
  };
  const successful = Math.min(calls, num('SuccessfulCall(C)'));
  const refusedCalls = Math.min(refused, successful);
  const completed = successful - refusedCalls;
  return { calls, completed, refused: refusedCalls, lost: calls - completed - refusedCalls, retransmissions: num('Retransmissions(C)') };
}
