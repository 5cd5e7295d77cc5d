CREATE TABLE `invoice_payments` (
	`charge_id` text PRIMARY KEY NOT NULL,
	`order_id` text NOT NULL,
	`payer_id` text NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`received_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`refunded_at` integer
);--> statement-breakpoint
CREATE INDEX `invoice_payments_order` ON `invoice_payments` (`order_id`);
