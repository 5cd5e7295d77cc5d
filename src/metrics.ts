import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The one Prometheus registry the service exposes on `/metrics`. Each module declares its own
 * metrics against it (`new Counter({ ..., registers: [registry] })`), next to the code that counts.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });
