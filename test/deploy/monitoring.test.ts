import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db';
import { registerStateMetrics } from '../../src/http/state-metrics';
import '../../src/intake/metrics';
import { registry } from '../../src/metrics';
import '../../src/payments/metrics';
import '../../src/outbox/metrics';
import '../../src/orders/metrics';
import '../../src/runner/metrics';

/**
 * The `monitoring` compose profile's files: every metric the service defines carries the one prefix and a
 * unit or `_total` suffix, and every query on the provisioned Grafana dashboard names a metric that exists,
 * so a renamed metric breaks this test rather than a panel.
 */
const dashboard = JSON.parse(readFileSync('deploy/monitoring/grafana/dashboards/transcribe.json', 'utf8')) as {
  uid: string;
  panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[];
};
const queries = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));

describe('monitoring', () => {
  let dir: string;
  let db: Db;
  let names: Map<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'monitoring-'));
    db = openDatabase(join(dir, 'db.sqlite'));
    registerStateMetrics(db);
    const metrics = await registry.getMetricsAsJSON();
    names = new Map(metrics.map((m) => [m.name, String(m.type)]));
  });

  afterAll(async () => {
    db.$client.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("names every service metric with one prefix and a unit or _total suffix (Node's default process metrics aside)", () => {
    const own = [...names].filter(([name]) => !/^(process|nodejs)_/.test(name));
    expect(own.length).toBeGreaterThan(10);
    for (const [name, type] of own) {
      expect(name).toMatch(/^transcribe_[a-z0-9_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (type === 'histogram') expect(name).toMatch(/_seconds$|_bytes$/);
    }
  });

  it('queries only metrics that exist, and shows orders by state, queue depth, audio, latency, revenue and failures', () => {
    for (const expr of queries) {
      for (const used of expr.match(/\btranscribe_[a-z0-9_]+/g) ?? []) {
        const base = used.replace(/_(bucket|sum|count)$/, '');
        expect(names.has(used) || names.get(base) === 'histogram', `${used} in ${expr}`).toBe(true);
      }
    }
    const all = queries.join('\n');
    // Money in cents is shown in currency units; Telegram Stars (XTR) have no cents and are shown as Stars.
    const revenue = queries.filter((q) => q.includes('transcribe_payments_revenue_cents_total'));
    for (const q of revenue.filter((q) => q.includes('/ 100'))) expect(q).toContain('{currency!="xtr"}');
    expect(revenue.filter((q) => q.includes('{currency="xtr"}') && !q.includes('/ 100'))).toHaveLength(2);
    for (const needed of [
      'sum by (state) (transcribe_orders)',
      'transcribe_queue_depth_orders',
      'transcribe_delivered_audio_seconds',
      'transcribe_delivery_latency_seconds_bucket',
      'transcribe_payments_revenue_cents_total',
      'transcribe_orders_finished_total{outcome="failed"}',
      'transcribe_reply_send_errors_total',
    ]) {
      expect(all).toContain(needed);
    }
  });

  it('is provisioned from the repository: data source, dashboard folder and scrape target agree', () => {
    const sources = parse(readFileSync('deploy/monitoring/grafana/provisioning/datasources/prometheus.yml', 'utf8'));
    const [source] = sources.datasources;
    expect(source.url).toBe('http://prometheus:9090');
    for (const panel of dashboard.panels) expect(panel.datasource.uid, panel.title).toBe(source.uid);

    const providers = parse(readFileSync('deploy/monitoring/grafana/provisioning/dashboards/transcribe.yml', 'utf8'));
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'));
    const mounts: string[] = compose.services.grafana.volumes;
    expect(mounts).toContain(`./deploy/monitoring/grafana/dashboards:${providers.providers[0].options.path}:ro`);

    const prometheus = parse(readFileSync('deploy/monitoring/prometheus.yml', 'utf8'));
    const [job] = prometheus.scrape_configs;
    expect(job.metrics_path).toBe('/metrics');
    expect(job.static_configs[0].targets).toEqual([`app:${compose.services.app.environment.PORT}`]);
  });
});
