import { Counter } from 'prom-client';
import { registry } from '../metrics';

export const intakeMetrics = {
  messages: new Counter({
    name: 'transcribe_intake_messages_total',
    help: 'Messages handled, by channel',
    labelNames: ['channel'],
    registers: [registry],
  }),
  duplicates: new Counter({
    name: 'transcribe_intake_duplicates_total',
    help: 'Redelivered messages ignored',
    labelNames: ['channel'],
    registers: [registry],
  }),
  limited: new Counter({
    name: 'transcribe_intake_limited_total',
    help: 'Messages dropped by a per-user limit, by channel and limit (flood, help)',
    labelNames: ['channel', 'limit'],
    registers: [registry],
  }),
  orders: new Counter({
    name: 'transcribe_orders_created_total',
    help: 'Orders recorded, by first outcome',
    labelNames: ['channel', 'outcome'],
    registers: [registry],
  }),
};
