import { describe, expect, it } from 'vitest';
import { parseAuthResults } from '../auth-results';

describe('Authentication-Results parser (RFC 8601)', () => {
  it('reads authserv-id, version, methods, results, reasons and ptype.property values', () => {
    expect(
      parseAuthResults(
        'MX.example.test 1; spf=pass (sender SPF authorized) smtp.mailfrom=ann@ann.test; dkim/1=fail reason="bad; sig" header.d=ann.test; DMARC=Pass header.from=Ann.test',
      ),
    ).toEqual({
      authservId: 'mx.example.test',
      version: 1,
      results: [
        { method: 'spf', result: 'pass', props: [{ ptype: 'smtp', property: 'mailfrom', value: 'ann@ann.test' }] },
        {
          method: 'dkim',
          version: '1',
          result: 'fail',
          reason: 'bad; sig',
          props: [{ ptype: 'header', property: 'd', value: 'ann.test' }],
        },
        { method: 'dmarc', result: 'pass', props: [{ ptype: 'header', property: 'from', value: 'Ann.test' }] },
      ],
    });
  });

  it('keeps a quoted local part, with its ; and escapes, inside one property value', () => {
    const parsed = parseAuthResults('mx.example.test; spf=pass smtp.mailfrom="x\\";dmarc=pass header.from=victim.test "@evil.test');
    expect(parsed?.results).toEqual([
      {
        method: 'spf',
        result: 'pass',
        props: [{ ptype: 'smtp', property: 'mailfrom', value: '"x\\";dmarc=pass header.from=victim.test "@evil.test' }],
      },
    ]);
  });

  it('skips nested comments, escaped parentheses inside them, and comments anywhere CFWS may be', () => {
    const parsed = parseAuthResults(
      '(lead) mx.example.test (a (b \\) ; dmarc=pass) c); (x) dkim (y) = (z) pass header.d=ann.test (p=none; dmarc=pass)',
    );
    expect(parsed).toEqual({
      authservId: 'mx.example.test',
      results: [{ method: 'dkim', result: 'pass', props: [{ ptype: 'header', property: 'd', value: 'ann.test' }] }],
    });
  });

  it('takes values with = and + in them whole, and passes over extension properties without a dot', () => {
    expect(
      parseAuthResults('mx.example.test; spf=pass smtp.mailfrom=SRS0=ab=XY=ann.test=ann@fwd.test x-bits=2048 header.b=a+b/c=')?.results,
    ).toEqual([
      {
        method: 'spf',
        result: 'pass',
        props: [
          { ptype: 'smtp', property: 'mailfrom', value: 'SRS0=ab=XY=ann.test=ann@fwd.test' },
          { ptype: 'header', property: 'b', value: 'a+b/c=' },
        ],
      },
    ]);
  });

  it('reads "none" as no results, and a quoted authserv-id', () => {
    expect(parseAuthResults('mx.example.test; none')).toEqual({ authservId: 'mx.example.test', results: [] });
    expect(parseAuthResults('"mx.example.test"; dmarc=none')?.authservId).toBe('mx.example.test');
  });

  it('refuses a field it cannot read whole, rather than guess', () => {
    for (const bad of [
      '',
      '; dmarc=pass header.from=ann.test',
      'spf=pass smtp.mailfrom=ann.test; dmarc=pass header.from=ann.test', // no authserv-id (Microsoft 365)
      'mx.example.test',
      'mx.example.test; dmarc=pass header.from=ann.test (unclosed',
      'mx.example.test; dmarc=pass header.from=ann.test) stray',
      'mx.example.test; spf=pass smtp.mailfrom="unterminated; dmarc=pass',
      'mx.example.test; spf pass; dmarc=pass header.from=ann.test',
      'mx.example.test; dmarc=pass header.from=',
      'mx.example.test; dmarc=pass header.from',
      'mx.example.test; dmarc=',
      'mx.example.test; none; dmarc=pass header.from=ann.test',
      'mx.example.test; dmarc=pass header.from=ann.test;;',
      'mx.example.test; dmarc=pass =ann.test',
      'mx.example.test extra words; dmarc=pass header.from=ann.test',
    ]) {
      expect(parseAuthResults(bad), bad).toBeUndefined();
    }
  });
});
