import { Counter, Histogram } from 'prom-client';
import { registry } from '../metrics';

export const outboxMetrics = {
  deliveryLatency: new Histogram({
    name: 'transcribe_delivery_latency_seconds',
    help: 'Time from the message arriving to its transcript being sent',
    buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
    registers: [registry],
  }),
  sendErrors: new Counter({
    name: 'transcribe_reply_send_errors_total',
    help: 'Failed reply sends, by channel and kind',
    labelNames: ['channel', 'permanent'],
    registers: [registry],
  }),
  repliesSent: new Counter({
    name: 'transcribe_replies_sent_total',
    help: 'Replies sent, by channel and kind',
    labelNames: ['channel', 'kind'],
    registers: [registry],
  }),
};
