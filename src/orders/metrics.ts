import { Counter } from 'prom-client';
import { registry } from '../metrics';

export const orderMetrics = {
  retries: new Counter({
    name: 'transcribe_order_retries_total',
    help: 'Passing failures (runner API, storage) after which an order is tried again later, by step',
    labelNames: ['step'],
    registers: [registry],
  }),
  finished: new Counter({
    name: 'transcribe_orders_finished_total',
    help: 'Orders finished, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  }),
};
