/**
 * A strict reader of Prometheus' text exposition format (version 0.0.4), line by line after its grammar:
 * every line is a `# HELP`, a `# TYPE`, another comment, blank, or a sample
 * `name{label="value",...} value [timestamp]`; a family's TYPE comes before its samples, which are
 * contiguous; a histogram's samples are NAME_bucket (with `le`), NAME_sum and NAME_count, its buckets
 * cumulative up to `+Inf`, which equals NAME_count; no sample (name and labels) appears twice. Any
 * departure throws, naming the line.
 *
 *   const families = parsePrometheusText(body);
 *   families.get('tsunicorn_requests_total')!.samples  // [{ name, labels: { status: '200' }, value: 3 }]
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'] as const;

/** A float as Prometheus reads it (Go's ParseFloat: Inf and NaN in any case). */
function parseValue(text: string, where: string): number {
  const special = text.toLowerCase();
  if (['+inf', 'inf', '+infinity', 'infinity'].includes(special)) return Infinity;
  if (['-inf', '-infinity'].includes(special)) return -Infinity;
  if (special === 'nan') return NaN;
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: not a float: ${JSON.stringify(text)}`);
  return Number(text);
}

/** `{a="x",b="y\"z"}` from the start of `text`; returns the labels and the rest. */
function parseLabels(text: string, where: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let rest = text.slice(1);
  for (;;) {
    if (rest.startsWith('}')) return { labels, rest: rest.slice(1) };
    const name = LABEL_NAME.exec(rest)?.[0];
    if (!name) throw new Error(`${where}: bad label name at ${JSON.stringify(rest)}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    rest = rest.slice(name.length);
    if (!rest.startsWith('="')) throw new Error(`${where}: expected =" after ${name}`);
    rest = rest.slice(2);
    let value = '';
    for (;;) {
      const char = rest[0];
      if (char === undefined) throw new Error(`${where}: unterminated label value`);
      rest = rest.slice(1);
      if (char === '"') break;
      if (char === '\\') {
        const escaped = rest[0];
        rest = rest.slice(1);
        if (escaped === 'n') value += '\n';
        else if (escaped === '\\' || escaped === '"') value += escaped;
        else throw new Error(`${where}: bad escape \\${escaped ?? ''}`);
      } else if (char === '\n') {
        throw new Error(`${where}: raw line feed in a label value`);
      } else {
        value += char;
      }
    }
    labels[name] = value;
    if (rest.startsWith(',')) rest = rest.slice(1);
    else if (!rest.startsWith('}')) throw new Error(`${where}: expected , or } after a label`);
  }
}

/** The family a sample name belongs to: itself, or a histogram/summary's base name. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = families.get(name.slice(0, -suffix.length));
    if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base;
  }
  return undefined;
}

export function parsePrometheusText(body: string): Map<string, Family> {
  if (!body.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map<string, Family>();
  const finished = new Set<string>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const lines = body.slice(0, -1).split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const comment = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!comment) return;
      const [, kind, name, rest] = comment;
      if (!METRIC_NAME.test(name!) || METRIC_NAME.exec(name!)![0] !== name) throw new Error(`${where}: bad metric name`);
      let family = families.get(name);
      if (!family) {
        if (finished.has(name)) throw new Error(`${where}: family ${name} split`);
        family = { name: name, type: 'untyped', help: undefined, samples: [] };
        families.set(name, family);
      } else if (family.samples.length > 0) {
        throw new Error(`${where}: ${kind} after samples of ${name}`);
      }
      if (current && current !== family) finished.add(current.name);
      current = family;
      if (kind === 'TYPE') {
        if (!TYPES.includes(rest as Family['type'])) throw new Error(`${where}: unknown type`);
        family.type = rest as Family['type'];
      } else {
        if (family.help !== undefined) throw new Error(`${where}: HELP twice`);
        family.help = rest ?? '';
      }
      return;
    }
    const name = METRIC_NAME.exec(line)?.[0];
    if (!name) throw new Error(`${where}: not a sample`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, where));
    const fields = rest.split(' ');
    if (fields[0] !== '' || fields.length < 2 || fields.length > 3) throw new Error(`${where}: expected one space, a value and maybe a timestamp`);
    const value = parseValue(fields[1]!, where);
    if (fields[2] !== undefined && !/^-?\d+$/.test(fields[2])) throw new Error(`${where}: bad timestamp`);
    let family = familyOf(name, families);
    if (!family) {
      if (finished.has(name)) throw new Error(`${where}: family ${name} split`);
      family = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, family);
    }
    if (current && current !== family) finished.add(current.name);
    if (finished.has(family.name)) throw new Error(`${where}: samples of ${family.name} are not contiguous`);
    current = family;
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: sample twice`);
    seen.add(key);
    if (family.type === 'histogram') {
      if (name === `${family.name}_bucket` && labels.le === undefined) throw new Error(`${where}: bucket without le`);
      if (name === family.name) throw new Error(`${where}: histogram sample without _bucket/_sum/_count`);
    }
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** Each series of a histogram (its labels but `le`): _sum, _count, cumulative buckets up to +Inf = _count. */
function checkHistogram(family: Family): void {
  const series = new Map<string, Sample[]>();
  for (const sample of family.samples) {
    const key = JSON.stringify(Object.entries(sample.labels).filter(([name]) => name !== 'le').sort());
    series.set(key, [...(series.get(key) ?? []), sample]);
  }
  for (const [key, samples] of series) {
    const where = `${family.name}${key}`;
    const buckets = samples.filter((sample) => sample.name === `${family.name}_bucket`);
    const count = samples.find((sample) => sample.name === `${family.name}_count`);
    if (!samples.some((sample) => sample.name === `${family.name}_sum`) || !count) throw new Error(`${where}: histogram without _sum or _count`);
    let previous = -Infinity;
    let previousCount = 0;
    for (const bucket of buckets) {
      const le = parseValue(bucket.labels.le!, `${where} le`);
      if (le <= previous) throw new Error(`${where}: buckets not in increasing le`);
      if (bucket.value < previousCount) throw new Error(`${where}: buckets not cumulative`);
      previous = le;
      previousCount = bucket.value;
    }
    if (previous !== Infinity) throw new Error(`${where}: no +Inf bucket`);
    if (previousCount !== count.value) throw new Error(`${where}: +Inf bucket ${previousCount} != _count ${count.value}`);
  }
}

/** The value of one sample of a family (labels must match exactly those given). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      const keys = Object.keys(sample.labels);
      if (keys.length === Object.keys(labels).length && keys.every((key) => sample.labels[key] === labels[key])) return sample.value;
    }
  }
  return undefined;
}
