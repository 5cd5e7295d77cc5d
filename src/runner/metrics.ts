import { Counter, Gauge } from 'prom-client';
import { registry } from '../metrics';

/** How well the local engines are kept fed: `rate(busy seconds) / engines` is their utilisation, 0 to 1. */
export const runnerMetrics = {
  engineBusy: new Counter({
    name: 'transcribe_engine_busy_seconds_total',
    help: 'Seconds the engines of the local warm workers held work, summed over engines',
    registers: [registry],
  }),
  engines: new Gauge({
    name: 'transcribe_engines',
    help: 'Engines loaded in the local warm workers',
    registers: [registry],
  }),
};
