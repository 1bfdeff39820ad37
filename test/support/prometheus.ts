// A strict parser of the Prometheus text exposition format (version 0.0.4), written
// from the format's description so that the tests do not trust the library that
// produced the text. It throws on anything a Prometheus server would reject, and on
// some things it tolerates but a careful exporter never emits (a family's samples
// split up, a sample before its TYPE, a duplicate series).

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<MetricType, string[]> = { counter: [''], gauge: [''], untyped: [''], histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

function fail(line: number, message: string): never {
  throw new Error(`prometheus text, line ${line}: ${message}`);
}

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(line, `not a number: ${JSON.stringify(text)}`);
  return Number(text);
}

/** Parses `{a="x",b="y"}` starting at `text[0] === '{'`; returns the labels and the rest of the line. */
function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) };
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i))?.[0];
    if (!name || !LABEL_NAME.test(name)) fail(line, 'bad label name');
    i += name.length;
    if (text.slice(i, i + 2) !== '="') fail(line, `label ${name}: expected ="`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) fail(line, `label ${name}: unterminated value`);
      if (c === '"') break;
      if (c === '\n') fail(line, 'raw newline in a label value');
      if (c === '\\') {
        const next = text[i + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else fail(line, `label ${name}: bad escape \\${next ?? ''}`);
        i += 2;
        continue;
      }
      value += c;
      i += 1;
    }
    i += 1;
    if (Object.hasOwn(labels, name)) fail(line, `label ${name} repeated`);
    labels[name] = value;
    if (text[i] === ',') i += 1;
    else if (text[i] !== '}') fail(line, `label ${name}: expected , or }`);
  }
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('prometheus text: the last line must end with a newline');
  const families = new Map<string, Family>();
  const seriesSeen = new Set<string>();
  const closed = new Set<string>();
  let current: Family | null = null;
  const familyOf = (sampleName: string): Family | undefined => {
    for (const family of families.values()) {
      if (SUFFIXES[family.type].some((suffix) => `${family.name}${suffix}` === sampleName)) return family;
    }
    return undefined;
  };
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!match) return; // an ordinary comment
      const [, keyword, name, rest = ''] = match as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!METRIC_NAME.test(name)) fail(line, `bad metric name ${name}`);
      if (closed.has(name)) fail(line, `${keyword} for ${name} after its samples ended`);
      let family = families.get(name);
      if (!family) {
        family = { name, type: 'untyped', help: null, samples: [] };
        families.set(name, family);
      }
      if (current && current !== family) closed.add(current.name);
      current = family;
      if (keyword === 'HELP') {
        if (family.help !== null) fail(line, `second HELP for ${name}`);
        family.help = rest.replace(/\\(n|\\)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (family.samples.length > 0) fail(line, `TYPE for ${name} after its samples`);
        if (!TYPES.has(rest.trim() as MetricType)) fail(line, `unknown type ${JSON.stringify(rest)}`);
        family.type = rest.trim() as MetricType;
      }
      return;
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw)?.[0];
    if (!name) fail(line, `not a sample: ${JSON.stringify(raw)}`);
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const fields = rest.trim().split(/\s+/);
    if (!rest.startsWith(' ') || fields.length < 1 || fields.length > 2) fail(line, `expected " value [timestamp]" after ${name}`);
    const value = parseValue(fields[0]!, line);
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) fail(line, 'bad timestamp');
    const family = familyOf(name);
    if (!family) fail(line, `sample ${name} has no TYPE line`);
    if (closed.has(family.name) || current !== family) fail(line, `samples of ${family.name} are not together`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seriesSeen.has(series)) fail(line, `duplicate series ${series}`);
    seriesSeen.add(series);
    if (family.type === 'counter' && (value < 0 || Number.isNaN(value))) fail(line, `counter ${name} is ${value}`);
    family.samples.push({ name, labels, value });
  });
  return families;
}

/** The one value of a series, or undefined when it is absent. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      const keys = Object.keys(sample.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => sample.labels[k] === labels[k])) return sample.value;
    }
  }
  return undefined;
}
