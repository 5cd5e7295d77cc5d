/**
 * `Authentication-Results` as receiving servers write them, and as attackers would like them read. Each case is
 * the header block a mailbox would hold (topmost field first, folded as delivered), the authserv-id the operator
 * configured, and whether the service may act on the mail. Real-world shapes are copied from delivered mail
 * with names and addresses replaced; hostile ones each try one way to make a forged `From` pass.
 */
export interface AuthCase {
  name: string;
  /** MAIL_AUTHSERV_ID. */
  authservId: string;
  /** Header lines, topmost first; `\r\n` plus whitespace folds a field. */
  headers: string[];
  /** True when the mail may be acted on. */
  pass: boolean;
}

const fold = (...lines: string[]): string => lines.join('\r\n\t');

export const realWorld: AuthCase[] = [
  {
    name: 'Gmail: DKIM, ARC summary in a comment, SPF, DMARC pass',
    authservId: 'mx.google.com',
    headers: [
      fold(
        'Authentication-Results: mx.google.com;',
        'dkim=pass header.i=@ann.test header.s=20230601 header.b=kX9a+Qz/;',
        'arc=pass (i=1 spf=pass spfdomain=ann.test dkim=pass dkdomain=ann.test dmarc=pass fromdomain=ann.test);',
        'spf=pass (google.com: domain of ann@ann.test designates 209.85.220.41 as permitted sender) smtp.mailfrom=ann@ann.test;',
        'dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=ann.test',
      ),
      'From: Ann Example <ann@ann.test>',
    ],
    pass: true,
  },
  {
    name: 'Gmail: DMARC fail, while the ARC comment says dmarc=pass',
    authservId: 'mx.google.com',
    headers: [
      fold(
        'Authentication-Results: mx.google.com;',
        'arc=pass (i=1 spf=pass spfdomain=victim.test dkim=pass dkdomain=victim.test dmarc=pass fromdomain=victim.test);',
        'spf=fail (google.com: domain of victim@victim.test does not designate 198.51.100.9 as permitted sender) smtp.mailfrom=victim@victim.test;',
        'dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=victim.test',
      ),
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'Gmail: a VERP/SRS envelope sender with = and + in it',
    authservId: 'mx.google.com',
    headers: [
      fold(
        'Authentication-Results: mx.google.com;',
        'dkim=pass header.i=@ann.test header.s=s1 header.b=Zx81Ab0=;',
        'spf=pass (google.com: domain of srs0=ab12=xy=ann.test=ann@fwd.test designates 192.0.2.1 as permitted sender) smtp.mailfrom="SRS0=ab12=XY=ann.test=ann@fwd.test";',
        'dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=ann.test',
      ),
      'From: ann+news@ann.test',
    ],
    pass: true,
  },
  {
    name: 'Microsoft 365 / Outlook.com: no authserv-id at all, so it cannot be told from a forged field',
    authservId: 'outlook.com',
    headers: [
      fold(
        'Authentication-Results: spf=pass (sender IP is 40.107.22.1) smtp.mailfrom=ann.test; dkim=pass (signature was verified)',
        'header.d=ann.test;dmarc=pass action=none header.from=ann.test;compauth=pass reason=100',
      ),
      'From: ann@ann.test',
    ],
    pass: false,
  },
  {
    name: 'Fastmail: extension properties without a dot, comments with = and ,',
    authservId: 'mx3.messagingengine.com',
    headers: [
      fold(
        'Authentication-Results: mx3.messagingengine.com;',
        'dkim=pass (2048-bit rsa key sha256) header.d=ann.test header.i=@ann.test header.b=abcdEFGH header.a=rsa-sha256 header.s=fm1 x-bits=2048;',
        'dmarc=pass policy.published-domain-policy=reject policy.applied-disposition=none policy.evaluated-disposition=none (p=reject,d=none,d.eval=none) policy.policy-from=p header.from=ann.test;',
        'iprev=pass smtp.remote-ip=192.0.2.33 (mail.ann.test);',
        'spf=pass smtp.mailfrom=ann@ann.test smtp.helo=mail.ann.test;',
        'x-aligned-from=pass (Address match);',
        'x-me-sender=none;',
        'x-tls=pass smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256/256;',
        'x-vs=clean score=-100 state=0',
      ),
      'From: "Ann" <ann@ann.test>',
    ],
    pass: true,
  },
  {
    name: 'Postfix with OpenDKIM, SPF policy and OpenDMARC last: three fields, DMARC topmost',
    authservId: 'mail.example.test',
    headers: [
      'Authentication-Results: mail.example.test; dmarc=pass (p=reject dis=none) header.from=ann.test',
      fold(
        'Authentication-Results: mail.example.test;',
        'dkim=pass (2048-bit key; unprotected) header.d=ann.test header.i=@ann.test header.a=rsa-sha256 header.s=mail header.b=Ab3dEf+g;',
        'dkim-atps=neutral',
      ),
      'Authentication-Results: mail.example.test; spf=pass (sender SPF authorized) smtp.mailfrom=ann.test (client-ip=192.0.2.7; helo=mail.ann.test; envelope-from=ann@ann.test; receiver=<UNKNOWN>)',
      'From: ann@ann.test',
    ],
    pass: true,
  },
  {
    name: 'Postfix with OpenDMARC before OpenDKIM: the topmost field has no DMARC result',
    authservId: 'mail.example.test',
    headers: [
      'Authentication-Results: mail.example.test; dkim=pass (2048-bit key; unprotected) header.d=ann.test header.i=@ann.test header.b=Ab3dEf+g',
      'Authentication-Results: mail.example.test; dmarc=pass (p=reject dis=none) header.from=ann.test',
      'From: ann@ann.test',
    ],
    pass: false,
  },
  {
    name: 'Exim: iprev, SPF, DKIM, DMARC in one field',
    authservId: 'mx.example.test',
    headers: [
      fold(
        'Authentication-Results: mx.example.test;',
        'iprev=pass (mail.ann.test) smtp.remote-ip=192.0.2.7;',
        'spf=pass smtp.mailfrom=ann.test;',
        'dkim=pass header.d=ann.test header.s=sel1 header.a=rsa-sha256;',
        'dmarc=pass header.from=ann.test;',
        'arc=none',
      ),
      'From: ann@ann.test',
    ],
    pass: true,
  },
  {
    name: 'rspamd: DKIM, SPF with a comment, DMARC policy comment',
    authservId: 'mx.example.test',
    headers: [
      fold(
        'Authentication-Results: mx.example.test;',
        'dkim=pass header.d=ann.test header.s=dkim header.b=QWErty12;',
        'spf=pass (mx.example.test: domain of ann@ann.test designates 192.0.2.7 as permitted sender) smtp.mailfrom=ann@ann.test;',
        'dmarc=pass (policy=reject) header.from=ann.test',
      ),
      'From: ann@ann.test',
    ],
    pass: true,
  },
  {
    name: 'rspamd: nothing to check',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dkim=none; spf=none (mx.example.test: domain of ann@ann.test has no SPF policy) smtp.mailfrom=ann@ann.test; dmarc=none',
      'From: ann@ann.test',
    ],
    pass: false,
  },
  {
    name: 'a version number after the authserv-id, and a trailing ;',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test 1; dmarc=pass header.from=ann.test;', 'From: ann@ann.test'],
    pass: true,
  },
  {
    name: '"none": the server checked nothing',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; none', 'From: ann@ann.test'],
    pass: false,
  },
  {
    name: 'other case in the authserv-id, method, result and domain',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: MX.Example.TEST; DMARC=Pass header.from=ANN.Test', 'From: Ann <Ann@ann.TEST>'],
    pass: true,
  },
  {
    name: 'an internationalised From domain, reported as its A-label',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; dmarc=pass header.from=xn--bcher-kva.test', 'From: ann@xn--bcher-kva.test'],
    pass: true,
  },
];

export const hostile: AuthCase[] = [
  {
    name: 'a quoted envelope local part carrying ";dmarc=pass header.from=victim"',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; spf=pass smtp.mailfrom="x;dmarc=pass header.from=victim.test "@evil.test; dkim=none; dmarc=fail (p=reject) header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'the same, where the server wrote no DMARC result of its own',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; spf=pass smtp.mailfrom="x;dmarc=pass header.from=victim.test "@evil.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'an escaped quote inside the quoted local part',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; spf=pass smtp.mailfrom="x\\";dmarc=pass header.from=victim.test; \\"y"@evil.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'a comment holding "; dmarc=pass"',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; spf=pass (helo said ; dmarc=pass header.from=victim.test) smtp.mailfrom=evil.test; dmarc=fail header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'nested comments and an escaped parenthesis',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; spf=none (a (b \\) c) ; dmarc=pass header.from=victim.test) smtp.mailfrom=evil.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'a reason string holding "; dmarc=pass"',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dkim=fail reason="bad sig; dmarc=pass header.from=victim.test"; dmarc=fail header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'two DMARC results, one pass and one fail',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dmarc=fail header.from=victim.test; dmarc=pass header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'two DMARC results, both pass',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test; dmarc=pass header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'a DMARC pass without header.from',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=evil.test; dmarc=pass', 'From: victim@victim.test'],
    pass: false,
  },
  {
    name: 'two header.from in the one DMARC result',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dmarc=pass header.from=evil.test header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'header.from a subdomain of the From domain',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; dmarc=pass header.from=mail.victim.test', 'From: victim@victim.test'],
    pass: false,
  },
  {
    name: 'From a subdomain of header.from',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test', 'From: victim@mail.victim.test'],
    pass: false,
  },
  {
    name: 'header.from a look-alike that ends in the From domain',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; dmarc=pass header.from=evilvictim.test', 'From: victim@victim.test'],
    pass: false,
  },
  {
    name: 'two fields with our id: the topmost fails, a smuggled one below passes',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dmarc=fail header.from=victim.test',
      'Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'our id only below another server’s field',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: filter.example.test; spam=pass',
      'Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'an authserv-id that merely starts with ours',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test.evil.test; dmarc=pass header.from=victim.test', 'From: victim@victim.test'],
    pass: false,
  },
  {
    name: 'an unterminated quoted string swallowing the rest',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test; spf=pass smtp.mailfrom="x; dmarc=fail header.from=victim.test',
      'From: victim@victim.test',
    ],
    pass: false,
  },
  {
    name: 'an unclosed comment',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test (p=reject', 'From: victim@victim.test'],
    pass: false,
  },
  {
    name: 'From with two addresses, the first one vouched for',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; dmarc=pass header.from=evil.test', 'From: mallory@evil.test, victim@victim.test'],
    pass: false,
  },
  {
    name: 'From as a group of two',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dmarc=pass header.from=evil.test',
      'From: staff: mallory@evil.test, victim@victim.test;',
    ],
    pass: false,
  },
  {
    name: 'a display name that is the victim’s address',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test',
      'From: "victim@victim.test" <mallory@evil.test>',
    ],
    pass: false,
  },
  {
    name: 'an encoded-word display name that decodes to the victim’s address',
    authservId: 'mx.example.test',
    headers: [
      'Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test',
      'From: =?utf-8?Q?victim=40victim.test?= <mallory@evil.test>',
    ],
    pass: false,
  },
  {
    name: 'an address before the angle address, where parsers disagree on which counts',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; dmarc=pass header.from=evil.test', 'From: mallory@evil.test <victim@victim.test>'],
    pass: false,
  },
  {
    name: 'a quoted local part holding the victim’s address',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; dmarc=pass header.from=victim.test', 'From: <"victim@victim.test"@evil.test>'],
    pass: false,
  },
  {
    name: 'a DMARC result after garbage the server would never write',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.example.test; spf pass; dmarc=pass header.from=victim.test', 'From: victim@victim.test'],
    pass: false,
  },
  {
    name: 'a forged field without our id at all',
    authservId: 'mx.example.test',
    headers: ['Authentication-Results: mx.attacker.test; dmarc=pass header.from=victim.test', 'From: victim@victim.test'],
    pass: false,
  },
];
