import { describe, expect, it } from 'vitest';
import { parsePrometheusText, valueOf } from '../../support/prometheus.js';

// The integration test trusts this parser to reject bad text: so it must be able to.
describe('the strict Prometheus text parser used by the tests', () => {
  const good = [
    '# HELP up 1 when up.',
    '# TYPE up gauge',
    'up 1',
    '# TYPE role gauge',
    'role{node="a",role="primary"} 1',
    'role{node="a\\"b\\\\c\\nd",role="replica"} 0 1700000000000',
    '# TYPE errors_total counter',
    'errors_total 3',
    '',
  ].join('\n');

  it('reads families, labels with escapes, values and timestamps', () => {
    const families = parsePrometheusText(good);
    expect([...families.keys()]).toEqual(['up', 'role', 'errors_total']);
    expect(families.get('up')).toMatchObject({ type: 'gauge', help: '1 when up.' });
    expect(valueOf(families, 'role', { node: 'a\"b\\c\nd', role: 'replica' })).toBe(0);
    expect(valueOf(families, 'errors_total')).toBe(3);
    expect(valueOf(families, 'absent')).toBeUndefined();
  });

  it.each([
    ['a sample without TYPE', 'x 1\n'],
    ['a bad value', '# TYPE x gauge\nx one\n'],
    ['a missing value', '# TYPE x gauge\nx\n'],
    ['an unterminated label', '# TYPE x gauge\nx{a="1} 1\n'],
    ['a bad escape', '# TYPE x gauge\nx{a="\\t"} 1\n'],
    ['a duplicate series', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'],
    ['a repeated label', '# TYPE x gauge\nx{a="1",a="2"} 1\n'],
    ['split samples', '# TYPE x gauge\nx{a="1"} 1\n# TYPE y gauge\ny 1\nx{a="2"} 1\n'],
    ['an unknown type', '# TYPE x meter\nx 1\n'],
    ['a negative counter', '# TYPE x_total counter\nx_total -1\n'],
    ['no final newline', '# TYPE x gauge\nx 1'],
    ['a bad metric name', '# TYPE 1x gauge\n'],
  ])('rejects %s', (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow(/prometheus text/);
  });
});
