/**
 * Redraws the chart of a pps results file (bench/pps.ts writes it beside the JSON already):
 *
 *   node --import tsx bench/pps-chart.ts RESULTS.json [OUT.svg]     (default: RESULTS.svg)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ppsChartOfResults, type PpsResultsFile } from './lib/chart-pps.ts';

const [input, output] = process.argv.slice(2);
if (input === undefined) {
  process.stderr.write('usage: node --import tsx bench/pps-chart.ts RESULTS.json [OUT.svg]\n');
  process.exit(2);
}
const results = JSON.parse(readFileSync(input, 'utf8')) as PpsResultsFile;
const out = output ?? `${input.replace(/\.json$/, '')}.svg`;
writeFileSync(out, ppsChartOfResults(results));
process.stdout.write(`chart: ${out}\n`);
