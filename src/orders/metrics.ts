import { Counter } from 'prom-client';
import { registry } from '../metrics';

export const orderMetrics = {
  finished: new Counter({
    name: 'transcribe_orders_finished_total',
    help: 'Orders finished, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  }),
};
